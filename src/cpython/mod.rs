//! `--cpython`: run the scenario's CPython twin and add its rows to the report.
//!
//! Each workload has a twin in `scripts/` (`cpu-bound` → `scripts/cpu_bound.py`)
//! that does the same work with real CPython threads, processes or a Manager and
//! prints `{"twin", "python", "runs": [RUN…]}` with `--json`, RUN using the same
//! field names as gilbench's own runs (`cpython-threads`, `cpython-processes`, …).
//!
//! # Finding the scripts
//!
//! The first directory holding `_twin.py` among:
//! 1. `$GILBENCH_SCRIPTS`, if set;
//! 2. `scripts/` in the source tree this binary was built from
//!    (`env!("CARGO_MANIFEST_DIR")`), which is right for `cargo run` and tests;
//! 3. `scripts/` next to the executable, for a binary copied elsewhere with its
//!    scripts beside it.
//!
//! # Same work
//!
//! Before anything is measured, a short probe imports the twin (without running
//! it) to learn its `--set` parameters, models and defaults. The twin then gets the
//! plan's `--workers`, `--ops`, `--switch-interval`, `--start-method` and every
//! scenario parameter it knows (the scenario file's values after `--set`), so both
//! sides do the same work. Two exceptions: a twin whose ops default differs per
//! model (`shared-counter`: the Manager's round trips are 1,000 times slower)
//! gets `--ops` only when the user gave it; twins take no `--duration`; and a
//! value of `all` is left to the twin's default (which is all of its variants).
//!
//! # When it cannot run
//!
//! No `python3` on the PATH, no twin, or a twin that fails: one line on stderr,
//! and the simulated rows print as usual. The twin runs as a child process after
//! the simulated models, never beside them; `--timeout` bounds it (SIGINT, so
//! the twin reaps its own workers, then SIGKILL after a grace period).

use crate::cli::ScenarioArgs;
use crate::measure::{new_histogram, Summary};
use crate::plan::{Amount, Plan};
use crate::report::RunReport;
use crate::workload::CounterOutcome;
use serde::Deserialize;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a twin gets to clean up after SIGINT before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// Imports a twin without running it and prints what its command line accepts.
/// argv: scripts dir, module stem. `_twin` goes first: it pins the standard
/// library's `queue` module, which `scripts/queue.py` would otherwise shadow.
const PROBE: &str = r#"
import importlib.util, json, os, sys
d, stem = sys.argv[1], sys.argv[2]
sys.path.insert(0, d)
import _twin
path = os.path.join(d, stem + "_twin.py")
if not os.path.exists(path):
    path = os.path.join(d, stem + ".py")
spec = importlib.util.spec_from_file_location("gilbench_twin_probe", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
t = module.TWIN
print(json.dumps({"params": list(t.params), "models": list(t.models),
                  "ops": t.ops, "start_method": bool(t.start_method)}))
"#;

/// What the probe learned about a twin.
#[derive(Debug, Deserialize)]
struct TwinInfo {
    params: Vec<String>,
    models: Vec<String>,
    ops: Option<u64>,
    start_method: bool,
}

/// Why a twin produced no rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwinError {
    /// SIGINT: the whole run is being interrupted.
    Interrupted,
    /// It failed; the one line to print.
    Failed(String),
}

/// A twin ready to run: the command line is fixed before measuring starts.
#[derive(Debug)]
pub struct Twin {
    python: PathBuf,
    script: PathBuf,
    args: Vec<String>,
    timeout: Option<Duration>,
}

/// The directory holding the twins, if any (see the module documentation).
pub fn scripts_dir() -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::var_os("GILBENCH_SCRIPTS") {
        candidates.push(PathBuf::from(dir));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts"));
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        candidates.push(dir.join("scripts"));
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("_twin.py").is_file())
}

/// `python3` on the PATH.
fn find_python() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("python3"))
        .find(|p| p.is_file())
}

/// The twin script for a workload: `cpu-bound` → `cpu_bound.py`.
fn script_for(dir: &Path, plan: &Plan) -> Option<(PathBuf, String)> {
    [&plan.workload_kind, &plan.scenario]
        .into_iter()
        .map(|name| name.replace('-', "_"))
        .map(|stem| (dir.join(format!("{stem}.py")), stem))
        .find(|(path, _)| path.is_file())
}

/// A TOML parameter as a twin's `--set` value.
fn set_value(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        toml::Value::Array(items) => {
            let items: Option<Vec<String>> = items.iter().map(set_value).collect();
            Some(items?.join(","))
        }
        _ => None,
    }
}

/// The twin's model for a simulated one: CPython's threads have a GIL.
fn twin_model(model: &str) -> &str {
    match model {
        "gil" | "gil-legacy" | "threads" => "threads",
        other => other,
    }
}

impl Twin {
    /// Finds and probes the twin for `plan`; `Err` is the one line to print.
    pub fn prepare(plan: &Plan, args: &ScenarioArgs) -> Result<Twin, String> {
        let python =
            find_python().ok_or("python3 is not on the PATH; showing the simulated rows only")?;
        let dir = scripts_dir().ok_or(
            "no scripts/ directory with _twin.py found (set GILBENCH_SCRIPTS); \
             showing the simulated rows only",
        )?;
        let (script, stem) = script_for(&dir, plan).ok_or_else(|| {
            format!(
                "no CPython twin for `{}` in {}; showing the simulated rows only",
                plan.workload_kind,
                dir.display()
            )
        })?;
        let probe = Command::new(&python)
            .args(["-c", PROBE])
            .arg(&dir)
            .arg(&stem)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
        let info: TwinInfo = serde_json::from_slice(&probe.stdout).map_err(|_| {
            format!(
                "{} did not describe itself ({}); showing the simulated rows only",
                script.display(),
                last_line(&probe.stderr)
            )
        })?;

        let user_set = |key: &str| {
            args.set
                .iter()
                .any(|s| s.split_once('=').is_some_and(|(k, _)| k.trim() == key))
        };
        let mut argv = vec![
            "--json".to_string(),
            "--workers".into(),
            plan.workers.to_string(),
            "--switch-interval".into(),
            format!("{}ns", plan.gil.switch_interval.as_nanos()),
        ];
        if let Amount::Ops(ops) = plan.amount {
            if info.ops.is_some() || args.ops.is_some() || user_set("ops") {
                argv.extend(["--ops".into(), ops.to_string()]);
            }
        }
        if info.start_method {
            argv.extend(["--start-method".into(), plan.start_method.name().into()]);
        }
        for (key, value) in &plan.params {
            if info.params.iter().any(|p| p == key) {
                // `all` (fork-cow's `variant`) is a twin's default already, and not
                // a value its list parameters accept.
                if let Some(value) = set_value(value).filter(|v| v != "all") {
                    argv.extend(["--set".into(), format!("{key}={value}")]);
                }
            }
        }
        if !args.model.is_empty() {
            // The user chose models: ask the twin for their CPython counterparts.
            let mut models: Vec<&str> = Vec::new();
            for m in &plan.models {
                let t = twin_model(m.name());
                if info.models.iter().any(|k| k == t) && !models.contains(&t) {
                    models.push(t);
                }
            }
            if !models.is_empty() {
                argv.extend(["--model".into(), models.join(",")]);
            }
        }
        Ok(Twin {
            python,
            script,
            args: argv,
            timeout: plan.timeout,
        })
    }

    /// The command line, for messages: `python3 scripts/cpu_bound.py --json …`.
    pub fn command_line(&self) -> String {
        let mut parts = vec![
            self.python.display().to_string(),
            self.script.display().to_string(),
        ];
        parts.extend(self.args.iter().cloned());
        parts.join(" ")
    }

    /// Runs the twin; its runs as report rows, or why not.
    pub fn run(&self) -> Result<Vec<RunReport>, TwinError> {
        let name = self
            .script
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        // exec right after fork (std's Command): no single-thread requirement.
        let mut child = Command::new(&self.python)
            .arg(&self.script)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| TwinError::Failed(format!("cannot start {name}: {e}")))?;
        // Drain both pipes while waiting, so a chatty twin cannot block on a full pipe.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let stderr = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let status = wait(&mut child, self.timeout);
        let stdout = stdout.join().unwrap_or_default();
        let stderr = stderr.join().unwrap_or_default();
        let status = status.map_err(|e| TwinError::Failed(format!("{name}: {e}")))?;
        // Ctrl-C reaches the twin too (same process group); it exits 130.
        if status.code() == Some(130) || status.signal() == Some(libc::SIGINT) {
            return Err(TwinError::Interrupted);
        }
        if !status.success() {
            return Err(TwinError::Failed(format!(
                "{name} failed ({status}): {}; showing the simulated rows only",
                last_line(&stderr)
            )));
        }
        parse(&stdout).map_err(|e| TwinError::Failed(format!("{name}: unexpected output: {e}")))
    }
}

/// Waits for `child`, interrupting then killing it past `timeout`.
fn wait(
    child: &mut std::process::Child,
    timeout: Option<Duration>,
) -> Result<std::process::ExitStatus, String> {
    let Some(timeout) = timeout else {
        return child.wait().map_err(|e| e.to_string());
    };
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + timeout;
    let mut interrupted_at = None;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return match interrupted_at {
                None => Ok(status),
                Some(_) => Err(format!("timed out after {timeout:?}")),
            };
        }
        let now = Instant::now();
        match interrupted_at {
            None if now >= deadline => {
                // SIGINT: the twin's KeyboardInterrupt path joins its workers.
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
                interrupted_at = Some(now);
            }
            Some(at) if now >= at + GRACE => {
                let _ = child.kill();
            }
            _ => {}
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn last_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no message")
        .trim()
        .to_string()
}

/// A twin's `--json` output.
#[derive(Debug, Deserialize)]
struct TwinReport {
    python: Option<String>,
    runs: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Fields a twin's RUN shares with [`RunReport`]; the rest go to `extra`.
const KNOWN: &[&str] = &[
    "trace",
    "ctx_switch_cost_ns",
    "model",
    "workers",
    "ops",
    "wall_ns",
    "throughput_ops_per_s",
    "speedup",
    "latency_ns",
    "cpu_user_ns",
    "cpu_sys_ns",
    "voluntary_ctx_switches",
    "involuntary_ctx_switches",
    "minor_faults",
    "startup_ns",
    "gil",
    "counter",
];

/// Turns a twin's JSON into report rows.
fn parse(stdout: &[u8]) -> Result<Vec<RunReport>, String> {
    let report: TwinReport = serde_json::from_slice(stdout).map_err(|e| e.to_string())?;
    report
        .runs
        .into_iter()
        .map(|run| to_row(run, report.python.as_deref()))
        .collect()
}

fn to_row(
    mut run: serde_json::Map<String, serde_json::Value>,
    python: Option<&str>,
) -> Result<RunReport, String> {
    let u64_of = |run: &serde_json::Map<String, serde_json::Value>, key: &str| {
        run.get(key)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    };
    let model = run
        .get("model")
        .and_then(|m| m.as_str())
        .ok_or("a run without a model")?
        .to_string();
    let latency: Summary = run
        .get("latency_ns")
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|e| format!("{model}: latency_ns: {e}"))?
        .unwrap_or_default();
    let ops = u64_of(&run, "ops");
    let wall_ns = u64_of(&run, "wall_ns");
    let throughput = run
        .get("throughput_ops_per_s")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| {
            if wall_ns > 0 {
                ops as f64 / (wall_ns as f64 / 1e9)
            } else {
                0.0
            }
        });
    let counter = run.get("counter").and_then(|c| {
        Some(CounterOutcome {
            expected: c.get("expected")?.as_u64()?,
            observed: c.get("observed")?.as_u64()?,
            lost: c.get("lost")?.as_u64()?,
        })
    });
    let mut row = RunReport {
        workers: u64_of(&run, "workers") as usize,
        ops,
        total_ops: ops,
        wall_ns,
        throughput_ops_per_s: throughput,
        speedup: run.get("speedup").and_then(serde_json::Value::as_f64),
        latency_ns: latency,
        cpu_user_ns: u64_of(&run, "cpu_user_ns"),
        cpu_sys_ns: u64_of(&run, "cpu_sys_ns"),
        voluntary_ctx_switches: u64_of(&run, "voluntary_ctx_switches"),
        involuntary_ctx_switches: u64_of(&run, "involuntary_ctx_switches"),
        minor_faults: u64_of(&run, "minor_faults"),
        ctx_switch_cost_ns: None,
        startup_ns: run.get("startup_ns").and_then(serde_json::Value::as_u64),
        gil: None,
        counter,
        extra: serde_json::Map::new(),
        histogram: new_histogram(),
        trace: None,
        traces: Vec::new(),
        model,
    };
    run.retain(|k, _| !KNOWN.contains(&k.as_str()));
    row.extra = run;
    if let Some(version) = python {
        row.extra.insert("python".into(), version.into());
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twin_json_becomes_rows() {
        let json = br#"{"twin":"cpu_bound","python":"3.11.7","runs":[
            {"model":"cpython-sequential","workers":2,"ops":6,"wall_ns":3000000,
             "throughput_ops_per_s":2000.0,"speedup":1.0,
             "latency_ns":{"count":6,"min":1,"mean":2,"p50":2,"p90":3,"p99":3,"p999":3,"max":3},
             "counter":null,"cpu_user_ns":5,"startup_ns":null},
            {"model":"cpython-threads","workers":2,"ops":6,"wall_ns":3100000,
             "throughput_ops_per_s":1935.5,"speedup":0.968,
             "latency_ns":{"count":6,"min":1,"mean":2,"p50":2,"p90":3,"p99":3,"p999":3,"max":3},
             "counter":{"expected":6,"observed":5,"lost":1},"send_ns":{"p50":4}}]}"#;
        let rows = parse(json).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].model, "cpython-threads");
        assert_eq!(rows[1].speedup, Some(0.968));
        assert_eq!(rows[1].latency_ns.p90, 3);
        assert_eq!(rows[1].counter.unwrap().lost, 1);
        assert!(rows[1].histogram.is_empty());
        assert_eq!(rows[1].extra["python"], "3.11.7");
        assert_eq!(rows[1].extra["send_ns"]["p50"], 4);
        assert!(!rows[1].extra.contains_key("model"));
        assert_eq!(rows[0].cpu_user_ns, 5);
    }

    #[test]
    fn values_and_models() {
        assert_eq!(set_value(&toml::Value::Integer(3)).unwrap(), "3");
        assert_eq!(
            set_value(&toml::Value::String("1ms".into())).unwrap(),
            "1ms"
        );
        let list = toml::Value::Array(vec!["a".into(), "b".into()]);
        assert_eq!(set_value(&list).unwrap(), "a,b");
        assert_eq!(twin_model("gil"), "threads");
        assert_eq!(twin_model("manager"), "manager");
    }
}
