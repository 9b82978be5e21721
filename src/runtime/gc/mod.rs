//! A simulated CPython object heap and its cycle collector.
//!
//! Objects are laid out the way CPython 3.11 lays out a GC-tracked container: the
//! `PyGC_Head` (`_gc_next`, `_gc_prev`) right in front of the `PyObject` header
//! (`ob_refcnt`, `ob_type`) and the payload (here up to [`ITEMS`] references, like a
//! small tuple), 64 bytes in all, one cache line. Links are object indices rather
//! than pointers, so the heap is plain memory that `fork()` shares copy-on-write:
//! every page the collector or a refcount update writes is a page the kernel copies.
//!
//! - [`heap`]: the objects, allocation, reference counting and deallocation
//!   (`Py_INCREF`, `Py_DECREF`, `PyObject_GC_Track`, `gc.freeze()`, PEP 683
//!   immortality); `list`: the generation lists threaded through the headers;
//!   `build`: heap shapes, and the deep copy's wire form.
//! - [`collect`]: the collector of `Modules/gcmodule.c` (3.11): three generations with
//!   thresholds 700/10/10, `update_refs` / `subtract_refs` / `move_unreachable` over
//!   the real object graph, `delete_garbage`, survivors promoted; `incremental`: the
//!   old generation scanned in bounded increments, after CPython 3.14.
//!
//! The collector's pause is the work it does, never a sleep: scanning a million
//! objects takes what it takes on this machine.

mod build;
pub mod collect;
pub mod heap;
mod incremental;
mod list;

pub use collect::{CollectStats, Mode};
pub use heap::{Heap, Object, ITEMS, OBJECT_BYTES};
