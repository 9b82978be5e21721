//! Scenario file + command-line flags → one validated [`Plan`].
//!
//! This is the only place input is checked. Everything downstream — models,
//! workloads, reports — trusts the plan. Every error names what was wrong and where
//! (`file:line: field: why`, or the flag), and maps to exit code 2.

use crate::cli::{OnOff, ScenarioArgs};
use crate::scenario::{ScenarioFile, Source};
use crate::workload::{self, Common, Workload};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Bad input: a flag, a scenario file, a parameter. Exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// No such built-in scenario, and not a path.
    #[error(
        "unknown scenario `{name}` (built-in scenarios: {known}; or give a path to a .toml file)"
    )]
    UnknownScenario {
        /// What was asked for.
        name: String,
        /// The built-in names.
        known: String,
    },
    /// The scenario file could not be read.
    #[error("cannot read scenario file {path}: {source}")]
    Unreadable {
        /// The path given.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Something in the scenario file (or a `--set`) is wrong.
    #[error("{origin}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Scenario {
        /// The file, or `--set KEY`.
        origin: String,
        /// 1-based line, when known.
        line: Option<usize>,
        /// What was wrong.
        message: String,
    },
    /// A flag's value is wrong.
    #[error("{flag}: {message}")]
    Flag {
        /// The flag, e.g. `--workers`.
        flag: String,
        /// What was wrong.
        message: String,
    },
}

impl InputError {
    fn flag(flag: &str, message: impl Into<String>) -> InputError {
        InputError::Flag {
            flag: flag.to_string(),
            message: message.into(),
        }
    }
}

/// A concurrency model (PRODUCT.md fixes the names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// One thread runs all workers' work one after another.
    Sequential,
    /// CPython 3.10+ GIL.
    Gil,
    /// CPython 3.2–3.9 GIL: the same lock, with the drop request looked at after
    /// nearly every bytecode.
    Gil39,
    /// Python 2 GIL.
    GilLegacy,
    /// OS threads, no GIL.
    Threads,
    /// Worker processes, each with its own GIL; shared memory between them.
    Processes,
    /// Worker processes whose shared state lives in a manager server.
    Manager,
}

impl ModelKind {
    /// Every model, in report order.
    pub const ALL: [ModelKind; 7] = [
        ModelKind::Sequential,
        ModelKind::Gil,
        ModelKind::Gil39,
        ModelKind::GilLegacy,
        ModelKind::Threads,
        ModelKind::Processes,
        ModelKind::Manager,
    ];

    /// The model's name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Sequential => "sequential",
            ModelKind::Gil => "gil",
            ModelKind::Gil39 => "gil-3.9",
            ModelKind::GilLegacy => "gil-legacy",
            ModelKind::Threads => "threads",
            ModelKind::Processes => "processes",
            ModelKind::Manager => "manager",
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ModelKind::ALL
            .into_iter()
            .find(|m| m.name() == s.trim())
            .ok_or_else(|| {
                let names: Vec<_> = ModelKind::ALL.iter().map(|m| m.name()).collect();
                format!("unknown model `{s}` (models: {})", names.join(", "))
            })
    }
}

/// How worker processes start, as in Python's multiprocessing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartMethod {
    /// fork() from a single-threaded parent.
    Fork,
    /// fork() + exec of gilbench itself in worker mode.
    Spawn,
    /// A server forked early that forks workers on request.
    Forkserver,
}

impl StartMethod {
    /// The method's name.
    pub fn name(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::Forkserver => "forkserver",
        }
    }
}

impl FromStr for StartMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::Forkserver),
            _ => Err(format!(
                "unknown start method `{s}` (start methods: fork, spawn, forkserver)"
            )),
        }
    }
}

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
}

/// Top-level scenario keys that `--set` may override (everything else is a param).
const TOP_LEVEL_KEYS: &[&str] = &[
    "workers",
    "ops",
    "duration",
    "switch_interval",
    "check_interval",
];

impl Plan {
    /// Validates a scenario and its flags.
    pub fn from_args(args: &ScenarioArgs) -> Result<Plan, InputError> {
        let source = load_source(&args.scenario)?;
        let mut file = ScenarioFile::parse(&source).map_err(|e| InputError::Scenario {
            origin: source.origin.clone(),
            line: e.line,
            message: e.message,
        })?;
        let overridden = apply_sets(&mut file, &args.set)?;
        let at = |field: &str| -> (String, Option<usize>) {
            if overridden.iter().any(|k| k == field) {
                (format!("--set {field}"), None)
            } else {
                (source.origin.clone(), source.line_of(field))
            }
        };
        let bad = |field: &str, message: String| {
            let (origin, line) = at(field);
            InputError::Scenario {
                origin,
                line,
                message,
            }
        };

        let models = if args.model.is_empty() {
            file.models
                .iter()
                .map(|m| m.parse())
                .collect::<Result<Vec<ModelKind>, _>>()
                .map_err(|e| bad("models", format!("`models`: {e}")))?
        } else {
            args.model
                .iter()
                .map(|m| m.parse())
                .collect::<Result<Vec<ModelKind>, _>>()
                .map_err(|e| InputError::flag("--model", e))?
        };
        if models.is_empty() {
            return Err(bad("models", "`models`: name at least one model".into()));
        }

        let workers = match args.workers {
            Some(n) => positive(n, "--workers", 1, MAX_WORKERS)?,
            None => positive(file.workers.unwrap_or(2), "workers", 1, MAX_WORKERS)
                .map_err(|e| bad("workers", e.to_string()))?,
        };

        let duration = match (&args.duration, &file.duration) {
            (Some(d), _) => Some(parse_duration(d).map_err(|e| InputError::flag("--duration", e))?),
            (None, Some(d)) => {
                Some(parse_duration(d).map_err(|e| bad("duration", format!("`duration`: {e}")))?)
            }
            (None, None) => None,
        };
        let ops = match args.ops {
            Some(n) => positive(n, "--ops", 1, i64::MAX)? as u64,
            None => positive(file.ops.unwrap_or(100), "ops", 1, i64::MAX)
                .map_err(|e| bad("ops", e.to_string()))? as u64,
        };
        let amount = match (args.ops, duration) {
            (None, Some(d)) if !d.is_zero() => Amount::Duration(d),
            (None, Some(_)) => return Err(InputError::flag("--duration", "must be more than 0")),
            _ => Amount::Ops(ops),
        };

        let switch_interval = match (&args.switch_interval, &file.switch_interval) {
            (Some(d), _) => {
                parse_duration(d).map_err(|e| InputError::flag("--switch-interval", e))?
            }
            (None, Some(d)) => parse_duration(d)
                .map_err(|e| bad("switch_interval", format!("`switch_interval`: {e}")))?,
            (None, None) => Duration::from_millis(5),
        };
        if switch_interval.is_zero() {
            return Err(InputError::flag("--switch-interval", "must be more than 0"));
        }
        let check_interval = match args.check_interval {
            Some(n) => positive(n, "--check-interval", 1, u32::MAX as i64)?,
            None => positive(
                file.check_interval.unwrap_or(100),
                "check_interval",
                1,
                u32::MAX as i64,
            )
            .map_err(|e| bad("check_interval", e.to_string()))?,
        } as u32;

        let start_method = match &args.start_method {
            Some(m) => m
                .parse()
                .map_err(|e| InputError::flag("--start-method", e))?,
            None => StartMethod::Fork,
        };
        let timeout = args
            .timeout
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| InputError::flag("--timeout", e))?;
        if timeout.is_some_and(|t| t.is_zero()) {
            return Err(InputError::flag("--timeout", "must be more than 0"));
        }
        if args.trace_limit == 0 {
            return Err(InputError::flag("--trace-limit", "must be at least 1"));
        }
        let timeline_window = args
            .timeline_window
            .as_deref()
            .map(parse_duration)
            .transpose()
            .map_err(|e| InputError::flag("--timeline-window", e))?;
        if timeline_window.is_some_and(|w| w.is_zero()) {
            return Err(InputError::flag("--timeline-window", "must be more than 0"));
        }
        let tracing = args.trace.is_some() || args.timeline || args.plot_timeline.is_some();

        let common = Common { workers, ops };
        let workload =
            workload::build(&file.workload, &file.params, common).map_err(|e| {
                match e.field.as_deref() {
                    Some("workload") => bad("workload", e.message),
                    Some(field) => bad(field, e.message),
                    None => bad("params", e.message),
                }
            })?;
        if workload.needs_concurrency() && models.contains(&ModelKind::Sequential) {
            let message = format!(
                "`{}` has no `sequential` baseline: its workers wait for each other, so one \
                 thread running them in turn would never finish",
                file.workload
            );
            return Err(if args.model.is_empty() {
                bad("models", format!("`models`: {message}"))
            } else {
                InputError::flag("--model", message)
            });
        }

        let trace_workers = workload.workers().len();
        if tracing
            && args.trace_limit.saturating_mul(trace_workers)
                > TRACE_BUDGET_BYTES / crate::runtime::trace::EVENT_BYTES
        {
            let most = TRACE_BUDGET_BYTES / crate::runtime::trace::EVENT_BYTES / trace_workers;
            return Err(InputError::flag(
                "--trace-limit",
                format!(
                    "{} events for each of {trace_workers} workers need more than {} MiB of trace buffers; use --trace-limit {most} or less",
                    args.trace_limit,
                    TRACE_BUDGET_BYTES >> 20
                ),
            ));
        }
        if let Some(runner) = workload.variant_runner() {
            if let Some(m) = models.iter().find(|m| !runner.models().contains(m)) {
                let names: Vec<_> = runner.models().iter().map(|m| m.name()).collect();
                let message = format!("`{m}`: {} runs under {}", file.name, names.join(", "));
                return Err(if args.model.is_empty() {
                    bad("models", format!("`models`: {message}"))
                } else {
                    InputError::flag("--model", message)
                });
            }
        }

        Ok(Plan {
            scenario: file.name,
            origin: source.origin,
            summary: file.summary,
            explanation: file.explanation.trim().to_string(),
            workload_kind: file.workload,
            models,
            workers: workload.workers().len(),
            amount,
            gil: GilConfig {
                switch_interval,
                check_interval,
            },
            start_method,
            manager_gil: args.manager_gil == OnOff::On,
            timeout,
            trace: TraceConfig {
                enabled: tracing,
                limit: args.trace_limit,
                window: timeline_window,
            },
            params: file.params,
            workload,
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
        })
    }
}

/// The most workers a model may run: far past any useful count, well short of what
/// would exhaust threads or memory.
const MAX_WORKERS: i64 = 4096;

fn positive(n: i64, what: &str, min: i64, max: i64) -> Result<usize, InputError> {
    if n < min || n > max {
        Err(InputError::flag(
            what,
            format!("must be between {min} and {max}, not {n}"),
        ))
    } else {
        Ok(n as usize)
    }
}

fn load_source(name: &str) -> Result<Source, InputError> {
    let looks_like_path = name.ends_with(".toml") || name.contains('/');
    if !looks_like_path {
        return Source::builtin(name).ok_or_else(|| InputError::UnknownScenario {
            name: name.to_string(),
            known: crate::scenario::builtin_names().join(", "),
        });
    }
    let text = std::fs::read_to_string(name).map_err(|source| InputError::Unreadable {
        path: name.to_string(),
        source,
    })?;
    Ok(Source {
        origin: name.to_string(),
        text,
    })
}

/// Applies `--set KEY=VALUE` overrides; returns the keys set.
fn apply_sets(file: &mut ScenarioFile, sets: &[String]) -> Result<Vec<String>, InputError> {
    let mut keys = Vec::new();
    for set in sets {
        let Some((key, raw)) = set.split_once('=') else {
            return Err(InputError::flag(
                "--set",
                format!("`{set}`: expected KEY=VALUE"),
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(InputError::flag("--set", format!("`{set}`: empty KEY")));
        }
        let value = parse_value(raw.trim());
        let origin = || format!("--set {key}");
        let as_int = |v: &toml::Value| {
            v.as_integer().ok_or_else(|| InputError::Scenario {
                origin: origin(),
                line: None,
                message: format!("`{key}` must be an integer"),
            })
        };
        match key {
            "workers" => file.workers = Some(as_int(&value)?),
            "ops" => file.ops = Some(as_int(&value)?),
            "check_interval" => file.check_interval = Some(as_int(&value)?),
            "duration" => file.duration = Some(raw.trim().to_string()),
            "switch_interval" => file.switch_interval = Some(raw.trim().to_string()),
            _ => {
                file.params.insert(key.to_string(), value);
            }
        }
        debug_assert!(TOP_LEVEL_KEYS.contains(&key) || file.params.contains_key(key));
        keys.push(key.to_string());
    }
    Ok(keys)
}

/// A `--set` value: a TOML scalar if it parses as one (`3`, `1.5`, `true`), else a
/// string, so `--set sync=lock` needs no quotes.
fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .filter(|v| !v.is_table())
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

/// Parses a duration: a non-negative number and a unit (`ns`, `us`/`µs`, `ms`, `s`,
/// `m`), as in `5ms`, `250us`, `1.5ms`, `2s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let why = || format!("`{text}` is not a duration (examples: 5ms, 250us, 2s)");
    if t.starts_with('-') {
        return Err(format!("`{text}`: a duration cannot be negative"));
    }
    let value: f64 = number.parse().map_err(|_| why())?;
    let unit_ns = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        _ => return Err(why()),
    };
    let ns = value * unit_ns;
    if !ns.is_finite() || ns > 1e18 {
        return Err(format!("`{text}` is too long"));
    }
    Ok(Duration::from_nanos(ns.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5ms"), Ok(Duration::from_millis(5)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("-5ms").unwrap_err().contains("negative"));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn set_values_are_typed_when_they_can_be() {
        assert_eq!(parse_value("3"), toml::Value::Integer(3));
        assert_eq!(parse_value("lock"), toml::Value::String("lock".into()));
        assert_eq!(
            parse_value("none-call"),
            toml::Value::String("none-call".into())
        );
    }

    #[test]
    fn models_parse() {
        assert_eq!("gil-legacy".parse::<ModelKind>(), Ok(ModelKind::GilLegacy));
        assert_eq!("gil-3.9".parse::<ModelKind>(), Ok(ModelKind::Gil39));
        assert!("gill"
            .parse::<ModelKind>()
            .unwrap_err()
            .contains("sequential, gil"));
    }
}
