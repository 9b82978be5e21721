//! `--cpython`: run the scenario's CPython twin and add its rows to the report.
//!
//! Each workload has a twin in `scripts/` (`cpu-bound` → `scripts/cpu_bound.py`)
//! that does the same work with real CPython threads, processes or a Manager and
//! prints `{"twin", "python", "runs": [RUN…]}` with `--json`, RUN using the same
//! field names as gilbench's own runs (`cpython-threads`, `cpython-processes`, …).
//! The twins are compiled into the binary and written to a private temporary
//! directory when needed ([`scripts`]), so `--cpython` works wherever the
//! binary is installed.
//!
//! # Same work
//!
//! Before anything is measured, the twin is asked what it accepts
//! (`--describe`: its `--set` parameters, models and defaults). The twin then
//! gets the plan's `--workers`, `--ops`, `--switch-interval`, `--start-method`
//! and every scenario parameter it knows (the scenario file's values after
//! `--set`), so both sides do the same work. Two exceptions: a twin whose ops
//! default differs per model (`shared-counter`: the Manager's round trips are
//! 1,000 times slower) gets `--ops` only when the user gave it; twins take no
//! `--duration`; and a value of `all` is left to the twin's default (which is
//! all of its variants).
//!
//! # When it cannot run
//!
//! No `python3` on the PATH, no twin, or a twin that fails: one line on stderr,
//! and the simulated rows print as usual. The twin runs as a child process after
//! the simulated models, never beside them; `--timeout` bounds it ([`wait`]).

pub mod interpreters;
pub mod rows;
pub mod scripts;
pub mod uprobe;
pub mod wait;

use crate::cli::ScenarioArgs;
use crate::plan::{Amount, Plan};
use crate::report::RunReport;
use interpreters::Interpreter;
use scripts::ScriptDir;
use serde::Deserialize;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

/// What a twin accepts (its `--describe`).
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
    /// It cannot run on this interpreter (too old for the modules it needs):
    /// the one line to print. Not a failure.
    Skipped(String),
    /// A limit gilbench cannot meet (RLIMIT_NPROC refused a thread): the one
    /// line to print; the whole run ends with exit 1.
    Limit(String),
}

/// A twin ready to run: the command line is fixed before measuring starts.
#[derive(Debug)]
pub struct Twin {
    python: PathBuf,
    /// The interpreter, for the rows' `interpreter` field.
    interpreter: Interpreter,
    /// `cpython-` or `cpython3.9-`: what the rows' model names start with.
    prefix: String,
    /// The twin's models (after `--model`), to name its rows when it fails.
    models: Vec<String>,
    /// The private directory the scripts were written to; removed with the last twin.
    dir: Arc<ScriptDir>,
    script: PathBuf,
    args: Vec<String>,
    timeout: Option<Duration>,
    /// Trace the real GIL (`--cpython` with `--trace`, `--timeline` or
    /// `--plot-timeline`), when it can be; else why not.
    probe: Option<Result<uprobe::Probe, uprobe::Unavailable>>,
    /// What one probe hit costs on this interpreter, measured once per twin.
    hit_cost: std::sync::OnceLock<Option<uprobe::cost::HitCost>>,
}

/// Rows with their `CLOCK_MONOTONIC` windows, as one twin run printed them.
type WindowedRows = Vec<rows::WindowedRow>;

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
        "gil" | "gil-3.9" | "gil-legacy" | "threads" => "threads",
        other => other,
    }
}

impl Twin {
    /// Finds and probes the twin for `plan` on `interpreter`, its rows to be
    /// named `PREFIX-MODEL`; `Err` is the one line to print.
    pub fn prepare(
        plan: &Plan,
        args: &ScenarioArgs,
        interpreter: &Interpreter,
        prefix: &str,
    ) -> Result<Twin, TwinError> {
        let python = interpreter.path.clone();
        let file = scripts::twin_file(&plan.workload_kind)
            .or_else(|| scripts::twin_file(&plan.scenario))
            .ok_or_else(|| {
                TwinError::Skipped(format!(
                    "no CPython twin for `{}`; showing the simulated rows only",
                    plan.workload_kind
                ))
            })?;
        let needs = scripts::requires_python(file);
        if interpreter.minor() < needs {
            return Err(TwinError::Skipped(format!(
                "{prefix}*: skipped: needs Python ≥ {}.{} ({file} on {})",
                needs.0,
                needs.1,
                interpreter.full_version()
            )));
        }
        let dir = ScriptDir::create().map(Arc::new).map_err(|e| {
            TwinError::Failed(format!(
                "cannot write the twins to a temporary directory: {e}"
            ))
        })?;
        let script = dir.script(file);
        let probe = Command::new(&python)
            .arg(&script)
            .arg("--describe")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| match refused(&e, &format!("starting {file}")) {
                Some(line) => TwinError::Limit(line),
                None => TwinError::Failed(format!("cannot run {}: {e}", python.display())),
            })?;
        let info: TwinInfo = serde_json::from_slice(&probe.stdout).map_err(|_| {
            TwinError::Failed(format!(
                "{file} on Python {} did not describe itself ({})",
                interpreter.full_version(),
                last_line(&probe.stderr)
            ))
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
        let mut models: Vec<String> = info.models.clone();
        if !args.model.is_empty() {
            // The user chose models: ask the twin for their CPython counterparts.
            let mut chosen: Vec<String> = Vec::new();
            for m in &plan.models {
                let t = twin_model(m.name());
                if info.models.iter().any(|k| k == t) && !chosen.iter().any(|c| c == t) {
                    chosen.push(t.to_string());
                }
            }
            if !chosen.is_empty() {
                argv.extend(["--model".into(), chosen.join(",")]);
                models = chosen;
            }
        }
        let traced = args.trace.is_some() || args.timeline || args.plot_timeline.is_some();
        let probe = traced.then(|| uprobe::Probe::prepare(&python));
        Ok(Twin {
            python,
            interpreter: interpreter.clone(),
            prefix: prefix.to_string(),
            models,
            dir,
            script,
            args: argv,
            timeout: plan.timeout,
            probe,
            hit_cost: std::sync::OnceLock::new(),
        })
    }

    /// Why the real GIL will not be traced although a trace was asked for.
    pub fn trace_notice(&self) -> Option<String> {
        match &self.probe {
            Some(Err(why)) => Some(why.to_string()),
            _ => None,
        }
    }

    /// The command line, for messages: `python3 cpu_bound.py --json …`.
    pub fn command_line(&self) -> String {
        let script = self
            .script
            .strip_prefix(self.dir.path())
            .unwrap_or(&self.script);
        let mut parts = vec![
            self.python.display().to_string(),
            script.display().to_string(),
        ];
        parts.extend(self.args.iter().cloned());
        parts.join(" ")
    }

    /// Runs the twin; its runs as report rows, or why not. Traced (see
    /// [`uprobe`]): an untraced run first, for the overhead, then the traced one
    /// whose rows are kept.
    pub fn run(&self) -> Result<Vec<RunReport>, TwinError> {
        let strip = |rows: WindowedRows| rows.into_iter().map(|(row, _)| row).collect();
        let Some(Ok(probe)) = &self.probe else {
            return self.run_once(&self.python, None).map(strip);
        };
        let plain: Vec<RunReport> = strip(self.run_once(&probe.executable, None)?);
        let session = match uprobe::session::Session::start(&probe.symbols) {
            Ok(session) => session,
            Err(e) => {
                eprintln!("gilbench: --cpython: {}", uprobe::explain(&e));
                return Ok(plain);
            }
        };
        let mut rows = self.run_once(&probe.executable, Some(&session))?;
        let pid = session.followed();
        uprobe::attach(&mut rows, session.finish(), pid);
        let cost = *self.hit_cost.get_or_init(|| uprobe::cost::measure(probe));
        uprobe::add_overhead(&mut rows, &plain, cost);
        Ok(strip(rows))
    }

    /// One run of the twin with `python`; with a session, its hits are this child's.
    fn run_once(
        &self,
        python: &std::path::Path,
        session: Option<&uprobe::session::Session>,
    ) -> Result<WindowedRows, TwinError> {
        let name = self
            .script
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        // exec right after fork (std's Command): no single-thread requirement.
        let mut command = Command::new(python);
        command
            .arg(&self.script)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A gilbench killed outright leaves no twin running: it gets SIGINT, as on
        // Ctrl-C, and stops its own workers (this thread waits for it, so the
        // signal comes only when gilbench is gone).
        crate::sys::process::signal_when_parent_dies(
            &mut command,
            nix::sys::signal::Signal::SIGINT,
        );
        let mut child =
            command
                .spawn()
                .map_err(|e| match refused(&e, &format!("starting {name}")) {
                    Some(line) => TwinError::Limit(line),
                    None => TwinError::Failed(format!("cannot start {name}: {e}")),
                })?;
        if let Some(session) = session {
            session.follow(child.id());
        }
        // Drain both pipes while waiting, so a chatty twin cannot block on a full pipe.
        let pipes = [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        let readers = match wait::drain(pipes) {
            Ok(readers) => readers,
            Err(why) => {
                // No reader thread (RLIMIT_NPROC): the twin is stopped and reaped.
                let _ = child.kill();
                let _ = child.wait();
                return Err(TwinError::Limit(format!("reading {name}'s output: {why}")));
            }
        };
        let status = wait::wait(&mut child, self.timeout);
        let [stdout, stderr] = readers.finish();
        let status = status.map_err(|e| TwinError::Failed(format!("{name}: {e}")))?;
        // Ctrl-C reaches the twin too (same process group); it exits 130.
        if status.code() == Some(130) || status.signal() == Some(libc::SIGINT) {
            return Err(TwinError::Interrupted);
        }
        if !status.success() {
            // The twin's interpreter was refused a thread or a process: the same
            // limit as a simulated model's refused thread, not a failed twin.
            if let Some(exception) = refused_in_stderr(&stderr) {
                return Err(TwinError::Limit(crate::sys::process::nproc_refused(
                    &format!(
                        "{name} on Python {} starting its workers ({exception})",
                        self.interpreter.full_version()
                    ),
                )));
            }
            return Err(TwinError::Failed(format!(
                "{name} on Python {} failed ({status}): {}",
                self.interpreter.full_version(),
                last_line(&stderr)
            )));
        }
        let mut rows = rows::parse_with_windows(&stdout)
            .map_err(|e| TwinError::Failed(format!("{name}: unexpected output: {e}")))?;
        for (row, _) in &mut rows {
            self.own(row);
        }
        Ok(rows)
    }

    /// Names `row` after this twin's interpreter and says which one ran it.
    fn own(&self, row: &mut RunReport) {
        if let Some(model) = row.model.strip_prefix("cpython-") {
            row.model = format!("{}{model}", self.prefix);
        }
        row.extra
            .insert("interpreter".into(), self.interpreter.json());
    }

    /// The interpreter this twin runs on.
    pub fn interpreter(&self) -> &Interpreter {
        &self.interpreter
    }

    /// Rows standing for a twin that failed: one per model it would have run,
    /// all zero, with `"failed": why`.
    pub fn failed_rows(&self, why: &str) -> Vec<RunReport> {
        self.models
            .iter()
            .map(|model| {
                let mut row = rows::empty(&format!("cpython-{model}"));
                self.own(&mut row);
                row.extra.insert("failed".into(), why.into());
                row
            })
            .collect()
    }
}

/// The one line for a process or thread the OS refused while `doing`, if `e` is
/// that refusal (EAGAIN from fork or clone: RLIMIT_NPROC), else `None`.
fn refused(e: &std::io::Error, doing: &str) -> Option<String> {
    (e.raw_os_error() == Some(libc::EAGAIN)).then(|| crate::sys::process::nproc_refused(doing))
}

/// The exception line in a failed twin's stderr that says the OS refused its
/// interpreter a thread or a process, if there is one: `can't start new thread`
/// (`RuntimeError` in Python 3, `thread.error` in 2), or EAGAIN (`[Errno 11]`)
/// raised by a fork — an `os.fork`, multiprocessing's `popen_fork`, or
/// `fork_exec` for spawn and forkserver — as a traceback line above it shows.
/// The same errno from a socket is not a limit, hence the fork.
fn refused_in_stderr(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let mut forked = false;
    for line in text.lines().map(str::trim) {
        let exception = line.split_once(": ").map(|(kind, _)| kind);
        let is_exception = exception.is_some_and(|k| {
            (k.ends_with("Error") || k.ends_with("error"))
                && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
        });
        if is_exception && line.ends_with("can't start new thread") {
            return Some(last_exception(line).to_string());
        }
        // The line itself may say so: a twin's own one line (`error: forking
        // the echo peer: BlockingIOError: [Errno 11] …`).
        forked |= line.contains("fork");
        if is_exception && forked && line.contains("[Errno 11] Resource temporarily unavailable") {
            return Some(last_exception(line).to_string());
        }
    }
    None
}

/// The exception a line ends with, `Kind: message` (a message without `": "`):
/// a twin's own one-line report of a refused thread or fork
/// (`error: starting thread 2 of 8, 'worker-1': RuntimeError: can't start new
/// thread`, from `_twin.start_threads`) ends with CPython's.
fn last_exception(line: &str) -> &str {
    let Some((head, _)) = line.rsplit_once(": ") else {
        return line;
    };
    &line[head.rfind(char::is_whitespace).map_or(0, |i| i + 1)..]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_thread_or_fork_is_told_from_other_failures() {
        let thread = b"Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>\n    t.start()\nRuntimeError: can't start new thread\n";
        assert_eq!(
            refused_in_stderr(thread).as_deref(),
            Some("RuntimeError: can't start new thread")
        );
        let py2 = b"thread.error: can't start new thread\n";
        assert!(refused_in_stderr(py2).is_some());
        // A twin's one line (`_twin.start_threads`): the exception it ends with.
        let twin =
            b"error: starting thread 2 of 8, 'worker-1': RuntimeError: can't start new thread\n";
        assert_eq!(
            refused_in_stderr(twin).as_deref(),
            Some("RuntimeError: can't start new thread")
        );
        let twin2 = b"error: starting thread 1 of 1, 'io': thread.error: can't start new thread\n";
        assert_eq!(
            refused_in_stderr(twin2).as_deref(),
            Some("thread.error: can't start new thread")
        );
        let peer = b"error: forking the echo peer: BlockingIOError: [Errno 11] Resource temporarily unavailable\n";
        assert_eq!(
            refused_in_stderr(peer).as_deref(),
            Some("BlockingIOError: [Errno 11] Resource temporarily unavailable")
        );
        let fork = b"  File \"/usr/lib/python3.11/multiprocessing/popen_fork.py\", line 66, in _launch\n    self.pid = os.fork()\n               ^^^^^^^^^\nBlockingIOError: [Errno 11] Resource temporarily unavailable\n";
        assert_eq!(
            refused_in_stderr(fork).as_deref(),
            Some("BlockingIOError: [Errno 11] Resource temporarily unavailable")
        );
        for other in [
            &b"    data = sock.recv(4)\nBlockingIOError: [Errno 11] Resource temporarily unavailable\n"[..],
            b"error: worker 2 said: can't start new thread, it said\n",
            b"print('can't start new thread')\n",
            b"ValueError: bad\n",
            b"",
        ] {
            assert_eq!(refused_in_stderr(other), None, "{}", String::from_utf8_lossy(other));
        }
        let eagain = std::io::Error::from_raw_os_error(libc::EAGAIN);
        let line = refused(&eagain, "starting x.py").unwrap();
        assert!(
            line.starts_with("starting x.py: refused; RLIMIT_NPROC"),
            "{line}"
        );
        assert_eq!(
            refused(&std::io::Error::from_raw_os_error(libc::ENOENT), "x"),
            None
        );
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
