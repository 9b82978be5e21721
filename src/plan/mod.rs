//! Scenario file + command-line flags → one validated [`Plan`].
//!
//! This is the only place input is checked. Everything downstream — models,
//! workloads, reports — trusts the plan. Every error names what was wrong and where
//! (`file:line: field: why`, or the flag), and maps to exit code 2.
//!
//! - [`source`]: the scenario's text, and the `--set` overrides applied to it;
//! - [`merge`]: the one rule for a setting — flag, else file, else default — and
//!   where its errors point;
//! - [`models`]: model kinds and start methods, and the one model-list parser;
//! - [`names`]: the names users type for an enum, as one-line errors;
//! - [`error`]: [`InputError`], exit code 2.

pub mod error;
pub mod merge;
pub mod models;
pub mod names;
pub mod repeats;
pub mod source;
pub mod sweep;

pub use error::InputError;
pub use models::{ModelKind, StartMethod};
pub use repeats::Repeats;

use crate::cli::{OnOff, ScenarioArgs};
use crate::scenario::ScenarioFile;
use crate::workload::{self, Common, Workload};
use merge::{count, positive_duration, Merge};
use std::sync::Arc;
use std::time::Duration;

/// How much work each model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// This many ops per foreground worker.
    Ops(u64),
    /// Every worker runs for this long.
    Duration(Duration),
}

/// GIL settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GilConfig {
    /// CPython's switch interval.
    pub switch_interval: Duration,
    /// Python 2's check interval, in ticks.
    pub check_interval: u32,
}

/// Tracing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceConfig {
    /// Whether workers record events at all.
    pub enabled: bool,
    /// Events kept per worker.
    pub limit: usize,
    /// `--timeline-window`: the span timelines show (`None`: chosen from the GIL's
    /// switch interval).
    pub window: Option<Duration>,
}

impl TraceConfig {
    /// Whether `workers` trace buffers of `limit` events fit in
    /// [`TRACE_BUDGET_BYTES`]; the error says what limit would.
    fn check_budget(&self, workers: usize) -> Result<(), String> {
        let event = crate::runtime::trace::EVENT_BYTES;
        let room = crate::measure::procfs::mem_available()
            .map_or(TRACE_BUDGET_BYTES, |a| (a as usize).min(TRACE_BUDGET_BYTES));
        let most_events = room / event;
        if !self.enabled || self.limit.saturating_mul(workers) <= most_events {
            return Ok(());
        }
        Err(format!(
            "{} events for each of {workers} workers need more than {} MiB of trace \
             buffers; use --trace-limit {} or less",
            self.limit,
            room >> 20,
            most_events / workers
        ))
    }
}

/// Most memory the trace buffers of one model run may take: every worker's buffer
/// is allocated and touched before the run, so `--workers 4096` with the default
/// limit must be refused rather than swap.
pub const TRACE_BUDGET_BYTES: usize = 1 << 30;

/// Everything a scenario run needs, validated.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario's name.
    pub scenario: String,
    /// Where it came from (built-in file or the user's path).
    pub origin: String,
    /// One line for listings.
    pub summary: String,
    /// Printed under the table.
    pub explanation: String,
    /// Which workload (`cpu-bound`, …).
    pub workload_kind: String,
    /// Models to run, in order.
    pub models: Vec<ModelKind>,
    /// Workers per model (`--workers`).
    pub workers: usize,
    /// How much work.
    pub amount: Amount,
    /// GIL settings.
    pub gil: GilConfig,
    /// How processes start.
    pub start_method: StartMethod,
    /// Whether the manager's server threads share a GIL.
    pub manager_gil: bool,
    /// Per-model time limit.
    pub timeout: Option<Duration>,
    /// Tracing.
    pub trace: TraceConfig,
    /// The workload's parameters after overrides (for the report's `config`).
    pub params: toml::Table,
    /// The workload itself.
    pub workload: Arc<dyn Workload>,
    /// How many times each model runs (`--runs`, `--warmup`).
    pub repeats: Repeats,
}

impl Plan {
    /// Validates a scenario and its flags.
    pub fn from_args(args: &ScenarioArgs) -> Result<Plan, InputError> {
        let source = source::load_source(&args.scenario)?;
        let mut file = ScenarioFile::parse(&source).map_err(|e| InputError::Scenario {
            origin: source.origin.clone(),
            line: e.line,
            message: e.message,
        })?;
        let overridden = source::apply_sets(&mut file, &args.set)?;
        let merge = Merge::new(&source, &overridden);

        let models_flag = !args.model.is_empty();
        let models = merge.value(
            ("--model", models_flag.then_some(args.model.as_slice())),
            ("models", Some(file.models.as_slice())),
            Vec::new(),
            models::parse_models,
        )?;
        let workers = merge.value(
            ("--workers", args.workers),
            ("workers", file.workers),
            DEFAULT_WORKERS,
            count(1, MAX_WORKERS),
        )? as usize;
        let ops = merge.value(
            ("--ops", args.ops),
            ("ops", file.ops),
            DEFAULT_OPS,
            count(1, i64::MAX),
        )?;
        let duration = merge.value(
            ("--duration", args.duration.as_deref()),
            ("duration", file.duration.as_deref()),
            None,
            |d| positive_duration(d).map(Some),
        )?;
        let amount = match duration {
            Some(d) if args.ops.is_none() => Amount::Duration(d),
            _ => Amount::Ops(ops),
        };
        let gil = GilConfig {
            switch_interval: merge.value(
                ("--switch-interval", args.switch_interval.as_deref()),
                ("switch_interval", file.switch_interval.as_deref()),
                DEFAULT_SWITCH_INTERVAL,
                positive_duration,
            )?,
            check_interval: merge.value(
                ("--check-interval", args.check_interval),
                ("check_interval", file.check_interval),
                DEFAULT_CHECK_INTERVAL,
                count(1, u32::MAX as i64),
            )? as u32,
        };
        let start_method = merge
            .flag(
                ("--start-method", args.start_method.as_deref()),
                StartMethod::parse,
            )?
            .unwrap_or(StartMethod::Fork);
        let timeout = merge.flag(("--timeout", args.timeout.as_deref()), positive_duration)?;
        if args.trace_limit == 0 {
            return Err(InputError::flag("--trace-limit", "must be at least 1"));
        }
        let trace = TraceConfig {
            enabled: args.trace.is_some() || args.timeline || args.plot_timeline.is_some(),
            limit: args.trace_limit,
            window: merge.flag(
                ("--timeline-window", args.timeline_window.as_deref()),
                positive_duration,
            )?,
        };

        let repeats = Repeats::from_flags(args.runs, args.warmup)?;

        let workload = workload::build(&file.workload, &file.params, Common { workers, ops })
            .map_err(|e| merge.bad(e.field.as_deref().unwrap_or("params"), e.message))?;
        // `build` has just read the kind, so it names one.
        if let Some(kind) = workload::Kind::named(&file.workload) {
            models::check_runnable(&models, &file.name, kind)
                .map_err(|e| merge.bad_setting(models_flag, "--model", "models", e))?;
        }
        if let Some(why) = models
            .contains(&ModelKind::Subinterpreters)
            .then(|| workload.needs_shared_memory())
            .flatten()
        {
            let e = format!(
                "`subinterpreters` does not fit scenario `{}` {why}",
                file.name
            );
            return Err(merge.bad_setting(models_flag, "--model", "models", e));
        }
        trace
            .check_budget(workload.workers().len())
            .map_err(|e| InputError::flag("--trace-limit", e))?;

        Ok(Plan {
            scenario: file.name,
            origin: source.origin,
            summary: file.summary,
            explanation: file.explanation.trim().to_string(),
            workload_kind: file.workload,
            models,
            workers: workload.workers().len(),
            amount,
            gil,
            start_method,
            manager_gil: args.manager_gil == OnOff::On,
            timeout,
            trace,
            params: file.params,
            workload,
            repeats,
        })
    }

    /// The settings as the JSON report's `config` object.
    pub fn config_json(&self) -> serde_json::Value {
        let (ops, duration_ns) = match self.amount {
            Amount::Ops(n) => (Some(n), None),
            Amount::Duration(d) => (None, Some(crate::measure::nanos(d))),
        };
        serde_json::json!({
            "origin": self.origin,
            "workload": self.workload_kind,
            "models": self.models.iter().map(|m| m.name()).collect::<Vec<_>>(),
            "workers": self.workers,
            "ops": ops,
            "duration_ns": duration_ns,
            "switch_interval_ns": crate::measure::nanos(self.gil.switch_interval),
            "check_interval": self.gil.check_interval,
            "start_method": self.start_method.name(),
            "manager_gil": self.manager_gil,
            "timeout_ns": self.timeout.map(crate::measure::nanos),
            "trace_limit": self.trace.enabled.then_some(self.trace.limit),
            "params": serde_json::to_value(&self.params).unwrap_or_default(),
            "runs": self.repeats.runs,
            "warmup": self.repeats.warmup,
        })
    }
}

/// Workers per model when neither `--workers` nor the scenario says.
const DEFAULT_WORKERS: u64 = 2;
/// Ops per worker when neither `--ops` nor the scenario says.
const DEFAULT_OPS: u64 = 100;
/// CPython's default `sys.getswitchinterval()`.
const DEFAULT_SWITCH_INTERVAL: Duration = Duration::from_millis(5);
/// Python 2's default `sys.getcheckinterval()`.
const DEFAULT_CHECK_INTERVAL: u64 = 100;

/// The most workers a model may run: far past any useful count, well short of what
/// would exhaust threads or memory.
const MAX_WORKERS: i64 = 4096;
