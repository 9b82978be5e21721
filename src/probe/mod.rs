//! Probes: direct measurements of OS costs (context switches, creation, reaping).

pub mod ctxswitch;
pub mod spawn;
pub mod zombie;
