//! Every `unsafe` OS call gilbench makes, each behind a safe function.
//!
//! The rest of the crate has no `unsafe`, and the compiler holds it to that: the
//! crate root denies `unsafe_code` and allows it on this module only. Anything that
//! needs `unsafe` (mapping shared memory, futexes, fork, exec, signal handlers)
//! lives here, small and documented, with a `// SAFETY:` note on every block saying
//! why it holds, and is offered to the rest of the crate as a safe function.

pub mod creation;
pub mod fdpass;
pub mod fs;
pub mod futex;
pub mod malloc;
pub mod mem;
pub mod perf;
pub mod pidfd;
pub mod process;
#[cfg(not(loom))] // under loom, `runtime::sync` uses loom's mocks instead
pub(crate) mod pthread;
pub mod shm;
pub mod signal;
pub mod tempdirs;
pub mod tempfiles;
pub mod thp;
