//! `gilbench spawn` (not implemented yet).

/// Runs the probe.
pub fn run(_args: &crate::cli::SpawnArgs) -> anyhow::Result<()> {
    anyhow::bail!("`gilbench spawn` is not implemented yet")
}
