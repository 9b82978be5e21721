//! stub
pub mod procfs;
pub fn run(_args: &crate::cli::ZombieArgs) -> anyhow::Result<()> { anyhow::bail!("todo") }
