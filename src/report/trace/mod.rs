//! A run's traces, as the user sees them: every file and picture drawn from the
//! per-worker events `--trace`, `--timeline` and `--plot-timeline` record.
//!
//! One idea per file:
//! * [`timeline`] — the window and the [`timeline::Lane`]s both timelines draw:
//!   each worker's state slice by slice.
//! * [`strips`] — `--timeline`: the lanes as character strips under the table.
//! * [`plot`] — `--plot-timeline FILE.svg`: the lanes as an SVG.
//! * [`chrome`] — `--trace FILE.json`: every event in the Chrome Trace Event format.
//! * [`files`] — the two output files, opened before any work and written last.
//! * [`counts`] — events kept and dropped over `--trace-limit`, in JSON and the table.

pub mod chrome;
pub mod counts;
pub mod files;
pub mod plot;
pub mod strips;
pub mod timeline;

use crate::model::WorkerTrace;

/// A worker's track name in every picture of a run — the Chrome trace's
/// `thread_name`, a strip's and an SVG lane's label: `model/role-index`
/// (`gil/io-0`).
pub fn track_name(model: &str, worker: &WorkerTrace) -> String {
    format!("{model}/{}-{}", worker.role, worker.index)
}
