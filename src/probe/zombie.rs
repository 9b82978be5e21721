//! `gilbench zombie` (not implemented yet).

/// Runs the probe.
pub fn run(_args: &crate::cli::ZombieArgs) -> anyhow::Result<()> {
    anyhow::bail!("`gilbench zombie` is not implemented yet")
}
