//! gilbench: a concurrency playground. See README.md and ../shared/PRODUCT.md.
//!
//! Results flow one way: a scenario file and flags become a validated
//! [`plan::Plan`]; a [`model`] runs the plan's [`workload`] and returns raw
//! measurements; [`report`] turns them into one serialisable result that exporters
//! render. The simulated GIL is [`runtime::gil`]; the interpreter that polls it is [`runtime::interp`].
//!
//! Every piece of state that workers share lives in one shared mapping, laid out
//! through [`shm`] (safe, typed views); the mapping itself, and every other `unsafe`
//! OS call, is in [`sys`], the only module allowed `unsafe` code.

#![deny(unsafe_code)]

pub mod app;
pub mod cli;
pub mod cpython;
pub mod manager;
pub mod measure;
pub mod model;
pub mod output;
pub mod plan;
pub mod probe;
pub mod report;
pub mod runtime;
pub mod scenario;
pub mod shm;
#[allow(unsafe_code)] // the one place: see its module documentation
pub mod sys;
pub mod workload;
