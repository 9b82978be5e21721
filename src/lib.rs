//! gilbench: a concurrency playground. See README.md and ../shared/PRODUCT.md.
//!
//! Results flow one way: a scenario file and flags become a validated
//! [`plan::Plan`]; a [`model`] runs the plan's [`workload`] and returns raw
//! measurements; [`report`] turns them into one serialisable result that exporters
//! render. The simulated GIL is [`gil`]; the interpreter that polls it is [`interp`].

pub mod app;
pub mod cli;
pub mod cpython;
pub mod gc;
pub mod gil;
pub mod interp;
pub mod manager;
pub mod measure;
pub mod model;
pub mod output;
pub mod plan;
pub mod probe;
pub mod procfs;
pub mod progress;
pub mod pymalloc;
pub mod report;
pub mod run;
pub mod scenario;
pub mod shm;
pub mod sys;
pub mod tour;
pub mod trace;
pub mod workload;
