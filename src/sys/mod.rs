//! Every `unsafe` OS call gilbench makes, each behind a safe function.
//!
//! The rest of the crate is `#![forbid(unsafe_code)]`-clean: anything that needs
//! `unsafe` (mapping shared memory, futexes, and — in later modules — fork and
//! waitpid) lives here, small and documented, with a `// SAFETY:` note on every
//! block saying why it holds.

pub mod creation;
pub mod fdpass;
pub mod futex;
pub mod malloc;
pub mod mem;
pub mod pidfd;
pub mod process;
pub mod shm;
pub mod signal;
pub mod thp;
