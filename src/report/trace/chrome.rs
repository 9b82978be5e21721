//! `--trace FILE.json`: the runs' GIL events in the Chrome Trace Event format.
//!
//! The format is the JSON object form (`{"traceEvents": [...]}`) that Perfetto UI,
//! `chrome://tracing` and speedscope open as they are. Each model run is a process
//! and each worker a thread of it, so every worker gets its own named track:
//!
//! * `M` metadata events name them: `process_name` is the model (`gil`,
//!   `threads`, …), `thread_name` is `model/role-index` (`gil/io-0`), and sort
//!   indexes keep models in run order and workers in index order.
//! * `X` complete events are the spans (`gil-held`, `gil-wait`, `io-blocked`,
//!   `running`, `gc-pause`, `manager-request`), `i` instant events the
//!   `drop-request` and `forced-switch` marks, with thread scope.
//!
//! # Process and thread ids
//!
//! Workers that ran as real processes (`processes`, `manager`) keep their real pid,
//! so the trace can be lined up with `ps`, `perf` or `strace` output. Workers that
//! ran as threads of gilbench itself all share gilbench's pid, and so would every
//! thread model of one invocation: each such run gets a *synthetic* pid instead,
//! counted up from [`SYNTHETIC_PID_BASE`], which no Linux pid reaches (the kernel's
//! `PID_MAX_LIMIT` is 2^22). A real pid seen again in a later run (the kernel
//! reuses pids) gets a synthetic one as well, so runs never share a track.
//! A worker's `tid` is its index + 1: Perfetto versions before mid-2025 merged
//! thread 0 into thread 1.
//!
//! # Time
//!
//! Events are ns since the run's epoch; `ts` and `dur` are µs written with exactly
//! three decimals, so no nanosecond is lost to float rounding and adjacent spans of
//! one thread (a wait that ends where the hold begins) stay adjacent. Each run
//! starts at 0, so models line up for comparison.

use crate::report::{ScenarioReport, VERSION};
use crate::runtime::trace::{Event, EventKind};
use std::collections::HashSet;
use std::fmt::Write;

/// The first synthetic pid: Linux's `PID_MAX_LIMIT`, above every real pid.
pub const SYNTHETIC_PID_BASE: u32 = 1 << 22;

/// Renders every run's traces as one Chrome Trace Event JSON document.
///
/// `host_pid` is the pid of the gilbench process that ran the thread models.
pub fn render(report: &ScenarioReport, host_pid: u32) -> Vec<u8> {
    let mut out = String::with_capacity(4096 + 96 * event_count(report));
    out.push_str("{\"traceEvents\":[\n");
    let mut first = true;
    let mut line = |out: &mut String, text: &str| {
        if !first {
            out.push_str(",\n");
        }
        first = false;
        out.push_str(text);
    };
    let pids = assign_pids(report, host_pid);
    let mut named: HashSet<u32> = HashSet::new();
    for (run_index, run) in report.runs.iter().enumerate() {
        for (worker, pid) in run.traces.iter().zip(&pids[run_index]) {
            let (pid, tid) = (*pid, worker.index + 1);
            if named.insert(pid) {
                line(
                    &mut out,
                    &metadata(pid, tid, "process_name", "name", &json_str(&run.model)),
                );
                line(
                    &mut out,
                    &metadata(
                        pid,
                        tid,
                        "process_sort_index",
                        "sort_index",
                        &run_index.to_string(),
                    ),
                );
            }
            let name = super::track_name(&run.model, worker);
            line(
                &mut out,
                &metadata(pid, tid, "thread_name", "name", &json_str(&name)),
            );
            line(
                &mut out,
                &metadata(
                    pid,
                    tid,
                    "thread_sort_index",
                    "sort_index",
                    &worker.index.to_string(),
                ),
            );
            let mut text = String::with_capacity(128);
            for event in &worker.events {
                text.clear();
                write_event(&mut text, pid, tid, event);
                line(&mut out, &text);
            }
        }
    }
    out.push_str("\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":");
    let dropped: u64 = report
        .runs
        .iter()
        .flat_map(|r| &r.traces)
        .map(|t| t.dropped)
        .sum();
    let other = serde_json::json!({
        "gilbench": VERSION,
        "scenario": report.scenario,
        "dropped_events": dropped,
    });
    out.push_str(&other.to_string());
    out.push_str("\n}\n");
    out.into_bytes()
}

/// The output pid of every worker trace, run by run (see the module docs).
pub fn assign_pids(report: &ScenarioReport, host_pid: u32) -> Vec<Vec<u32>> {
    let mut taken: HashSet<u32> = HashSet::new();
    let mut next_synthetic = SYNTHETIC_PID_BASE;
    report
        .runs
        .iter()
        .map(|run| {
            // Within one run, one OS process is one output process.
            let mut this_run: Vec<(u32, u32)> = Vec::new();
            run.traces
                .iter()
                .map(|worker| {
                    if let Some(&(_, out)) = this_run.iter().find(|(pid, _)| *pid == worker.pid) {
                        return out;
                    }
                    let out = if worker.pid != host_pid && taken.insert(worker.pid) {
                        worker.pid
                    } else {
                        next_synthetic += 1;
                        next_synthetic - 1
                    };
                    this_run.push((worker.pid, out));
                    out
                })
                .collect()
        })
        .collect()
}

fn event_count(report: &ScenarioReport) -> usize {
    report
        .runs
        .iter()
        .flat_map(|r| &r.traces)
        .map(|t| t.events.len())
        .sum()
}

fn metadata(pid: u32, tid: usize, name: &str, key: &str, value: &str) -> String {
    format!(
        "{{\"name\":\"{name}\",\"ph\":\"M\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"{key}\":{value}}}}}"
    )
}

/// The category Perfetto and chrome://tracing can filter on.
fn category(kind: EventKind) -> &'static str {
    match kind {
        EventKind::GilHeld
        | EventKind::GilWait
        | EventKind::DropRequest
        | EventKind::ForcedSwitch => "gil",
        EventKind::IoBlocked => "io",
        EventKind::Running => "cpu",
        EventKind::GcPause => "gc",
        EventKind::ManagerRequest => "manager",
    }
}

fn write_event(out: &mut String, pid: u32, tid: usize, event: &Event) {
    let (name, cat) = (event.kind.name(), category(event.kind));
    let _ = write!(
        out,
        "{{\"name\":\"{name}\",\"cat\":\"{cat}\",\"pid\":{pid},\"tid\":{tid},\"ts\":{}",
        Micros(event.start_ns)
    );
    if event.kind.is_instant() {
        out.push_str(",\"ph\":\"i\",\"s\":\"t\"}");
    } else {
        let _ = write!(out, ",\"ph\":\"X\",\"dur\":{}}}", Micros(event.dur_ns));
    }
}

/// Nanoseconds written as microseconds with exactly three decimals.
struct Micros(u64);

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

fn json_str(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{ev, report_with};

    #[test]
    fn micros_keep_every_nanosecond() {
        assert_eq!(Micros(0).to_string(), "0.000");
        assert_eq!(Micros(12_345).to_string(), "12.345");
        assert_eq!(Micros(5_000_001).to_string(), "5000.001");
    }

    #[test]
    fn tracks_are_named_and_events_carry_exact_times() {
        let report = report_with(&[
            (
                "gil",
                vec![
                    (
                        7,
                        "io",
                        vec![
                            ev(EventKind::GilWait, 1_000, 4_500),
                            ev(EventKind::DropRequest, 3_000, 0),
                        ],
                    ),
                    (7, "cpu", vec![ev(EventKind::GilHeld, 0, 5_500)]),
                ],
            ),
            (
                "threads",
                vec![(7, "io", vec![ev(EventKind::Running, 0, 10)])],
            ),
        ]);
        let json: serde_json::Value = serde_json::from_slice(&render(&report, 7)).unwrap();
        let events = json["traceEvents"].as_array().unwrap();
        let names: Vec<_> = events
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["gil/io-0", "gil/cpu-1", "threads/io-0"]);
        let wait = events.iter().find(|e| e["name"] == "gil-wait").unwrap();
        assert_eq!(wait["ph"], "X");
        assert_eq!(wait["ts"].as_f64(), Some(1.0));
        assert_eq!(wait["dur"].as_f64(), Some(4.5));
        assert_eq!(wait["tid"], 1);
        let drop = events.iter().find(|e| e["name"] == "drop-request").unwrap();
        assert_eq!(
            (drop["ph"].as_str(), drop["s"].as_str()),
            (Some("i"), Some("t"))
        );
        // Both thread models ran in pid 7: they get distinct synthetic pids.
        let gil_pid = wait["pid"].as_u64().unwrap();
        let threads_pid = events.iter().find(|e| e["name"] == "running").unwrap()["pid"]
            .as_u64()
            .unwrap();
        assert_ne!(gil_pid, threads_pid);
        assert!(gil_pid >= u64::from(SYNTHETIC_PID_BASE));
        let processes: Vec<_> = events
            .iter()
            .filter(|e| e["name"] == "process_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(processes, ["gil", "threads"]);
    }

    #[test]
    fn worker_processes_keep_their_real_pids_unless_reused() {
        let report = report_with(&[
            (
                "processes",
                vec![(101, "cpu", vec![]), (102, "cpu", vec![])],
            ),
            ("manager", vec![(101, "cpu", vec![]), (103, "cpu", vec![])]),
            ("gil", vec![(1, "cpu", vec![]), (1, "cpu", vec![])]),
        ]);
        let pids = assign_pids(&report, 1);
        assert_eq!(pids[0], [101, 102]);
        assert_eq!(pids[1][1], 103);
        assert!(
            pids[1][0] >= SYNTHETIC_PID_BASE,
            "a reused pid must not merge runs"
        );
        assert_eq!(pids[2][0], pids[2][1], "threads of one run share a process");
        assert!(pids[2][0] >= SYNTHETIC_PID_BASE && pids[2][0] != pids[1][0]);
    }
}
