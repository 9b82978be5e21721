//! gilbench: a concurrency playground. See README.md and ../shared/PRODUCT.md.
//!
//! Results flow one way: a scenario file and flags become a validated
//! [`plan::Plan`]; a [`model`] runs the plan's [`workload`] and returns raw
//! measurements; [`report`] turns them into one serialisable result that exporters
//! render. The simulated GIL is [`runtime::gil`]; the interpreter that polls it is [`runtime::interp`].

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
pub mod sys;
pub mod workload;
