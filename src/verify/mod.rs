//! `gilbench verify`: does the simulation match *my* CPython? What to compare
//! and how to judge it; running it is `app::verify`'s job.
//!
//! - [`checks`]: one check per concept with a number — the scenario, the figure,
//!   and a tolerance written beside it with the reason for its width; which
//!   simulated model stands for which interpreter.
//! - [`judge`]: the verdict rules, pure functions over numbers.
//! - [`VerifyReport`]: the result, in PRODUCT.md's JSON shape; [`render`] makes
//!   it a `report::render::Report`, so `app::emit` renders it like any other.

pub mod checks;
pub mod judge;
pub mod render;

use crate::measure::stats::Spread;
use crate::measure::Machine;
use judge::Verdict;
use serde::Serialize;

/// The whole result of `gilbench verify`.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// gilbench's version.
    pub gilbench: &'static str,
    /// Always `verify`.
    pub kind: &'static str,
    /// The machine, with its load over the whole run.
    pub machine: Machine,
    /// Every interpreter chosen: `{"path", "version", "free_threaded"}`.
    pub interpreters: Vec<serde_json::Value>,
    /// One per check and simulated model.
    pub checks: Vec<CheckResult>,
    /// Checks that agree.
    pub agrees: usize,
    /// Checks that differ.
    pub differs: usize,
    /// Checks that could not be judged.
    pub inconclusive: usize,
    /// Checks with no interpreter to compare with.
    pub skipped: usize,
    /// Interpreters whose twin failed (crashed) during a check.
    pub failed: Vec<String>,
}

/// One check under one simulated model.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// The concept.
    pub concept: String,
    /// `--check` name.
    pub check: String,
    /// The scenario.
    pub scenario: String,
    /// The figure compared.
    pub metric: String,
    /// The simulated model.
    pub model: String,
    /// The simulated figure over the repeats (null when it was not run).
    pub simulated: Option<Spread<f64>>,
    /// Each interpreter the model stands for, with its figure.
    pub cpython: Vec<CpythonValue>,
    /// The tolerance rule.
    pub tolerance: String,
    /// Why it is that wide.
    pub tolerance_why: String,
    /// The verdict.
    pub verdict: Verdict,
    /// What decided it.
    pub note: String,
}

/// One interpreter's figure for a check.
#[derive(Debug, Clone, Serialize)]
pub struct CpythonValue {
    /// Its version (`3.11.7`), as in `interpreters`.
    pub interpreter: String,
    /// The figure over the repeats (null when it could not run).
    pub value: Option<Spread<f64>>,
    /// The verdict against the simulation.
    pub verdict: Verdict,
    /// Why.
    pub note: String,
}

impl VerifyReport {
    /// A report of `checks`, with the counts filled in.
    pub fn new(
        machine: Machine,
        interpreters: Vec<serde_json::Value>,
        checks: Vec<CheckResult>,
        failed: Vec<String>,
    ) -> VerifyReport {
        let count = |v: Verdict| checks.iter().filter(|c| c.verdict == v).count();
        VerifyReport {
            gilbench: env!("CARGO_PKG_VERSION"),
            kind: "verify",
            machine,
            interpreters,
            agrees: count(Verdict::Agrees),
            differs: count(Verdict::Differs),
            inconclusive: count(Verdict::Inconclusive),
            skipped: count(Verdict::Skipped),
            checks,
            failed,
        }
    }
}
