//! The simulated CPython runtime: the GIL ([`gil`]), the interpreter loop that
//! polls it ([`interp`]), the small-object allocator ([`pymalloc`]), the cyclic
//! garbage collector ([`gc`]), Python 2's lock ([`semaphore`]), the event recorder that traces them ([`trace`]), and
//! the typed shared memory that workers in different processes see alike
//! ([`shm`]: what `multiprocessing.sharedctypes` is to CPython).
//!
//! Nothing here knows about models, workloads or reports: models build a runtime
//! for their workers, workloads run Python-like work on it.
//!
//! State the GIL protects with no lock of its own, as pymalloc's pools in CPython,
//! is held through [`gilstate`].

pub mod gc;
pub mod gil;
pub mod gilstate;
pub mod interp;
pub mod pymalloc;
pub mod semaphore;
pub mod shm;
pub(crate) mod sync;
pub mod trace;
