//! gilbench: a concurrency playground. See README.md and ../shared/PRODUCT.md.
//!
//! Results flow one way: a [`scenario`] file and [`cli`] flags become a validated
//! [`plan::Plan`]; a [`model`] runs the plan's [`workload`] on the simulated
//! [`runtime`] and returns raw [`measure`]ments; [`report`] turns them into one
//! serialisable result that exporters render, and [`app`] writes it out.
//!
//! # Layers
//!
//! Modules depend only on modules below them in this list, never above; a grep of
//! `crate::` per module shows it (`tests/layers.rs`). A probe returns its result
//! struct; [`app`] hands it to [`report::render::render`], the one place a
//! `--format` is chosen.
//!
//! | module       | what it is                                                        |
//! |--------------|-------------------------------------------------------------------|
//! | [`app`]      | command wiring: dispatch, exit codes, `scenario`, `tour`, progress |
//! | [`verify`]   | `gilbench verify`'s checks, tolerances and verdict rules (run by `app`) |
//! | [`cpython`]  | the real-CPython twins of the scenarios                            |
//! | [`report`]   | one serialisable result per command, and its exporters             |
//! | [`probe`]    | `ctxswitch`, `spawn`, `zombie`: direct measurements of OS costs    |
//! | [`output`]   | where a report goes: standard output or a file written beside its target and renamed into place |
//! | [`model`]    | sequential, threaded (gil, gil-legacy, threads), processes, manager; fork-cow's runner |
//! | [`plan`]     | flags + scenario file → one validated `Plan`: the only input check |
//! | [`workload`] | what each worker does, one op at a time; never which model runs it |
//! | [`manager`]  | the `multiprocessing.Manager`-like server and its client           |
//! | [`runtime`]  | the simulated CPython: GIL, interpreter loop, pymalloc, gc, trace, shared memory |
//! | [`measure`]  | histograms, resource usage, clocks, CPU pinning, `/proc`           |
//! | [`scenario`] | the scenario files (built in and the user's), durations as written |
//! | [`cli`]      | the commands and their flags (clap), nothing else                  |
//! | [`sys`]      | every `unsafe` OS call, behind safe functions                      |
//!
//! Every piece of state that workers share lives in one shared mapping, laid out
//! through [`runtime::shm`] (safe, typed views); the mapping itself, and every
//! other `unsafe` OS call, is in [`sys`], the only module allowed `unsafe` code —
//! the crate denies `unsafe_code` everywhere else.

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
#[allow(unsafe_code)] // the one place: see its module documentation
pub mod sys;
pub mod verify;
pub mod workload;
