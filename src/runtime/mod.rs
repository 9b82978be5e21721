//! The simulated CPython runtime: the GIL ([`gil`]), the interpreter loop that
//! polls it ([`interp`]), state the GIL protects with no lock of its own
//! ([`gilstate`]), the small-object allocator ([`pymalloc`]), the cyclic
//! garbage collector ([`gc`]), the event recorder that traces them ([`trace`]), and
//! the typed shared memory that workers in different processes see alike
//! ([`shm`]: what `multiprocessing.sharedctypes` is to CPython).
//!
//! Nothing here knows about models, workloads or reports: models build a runtime
//! for their workers, workloads run Python-like work on it.

pub mod gc;
pub mod gil;
pub mod gilstate;
pub mod interp;
pub mod pymalloc;
pub mod shm;
pub(crate) mod sync;
pub mod trace;
