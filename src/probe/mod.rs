//! Probes: direct measurements of OS costs (context switches, creation, reaping).

pub mod calibrate;
pub mod ctxswitch;
pub mod options;
pub mod results;
pub mod spawn;
pub mod zombie;
