//! `gilbench ctxswitch` (not implemented yet).

/// Runs the probe.
pub fn run(_args: &crate::cli::CtxswitchArgs) -> anyhow::Result<()> {
    anyhow::bail!("`gilbench ctxswitch` is not implemented yet")
}
