//! stub
pub fn run(_args: &crate::cli::SpawnArgs) -> anyhow::Result<()> { anyhow::bail!("todo") }
