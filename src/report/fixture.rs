//! Hand-made reports for the exporters' unit tests (no measuring, so no timing
//! noise): a figured three-model report, runs carrying given traces, and a small
//! snapshot helper — `UPDATE_SNAPSHOTS=1 cargo test` rewrites the files in
//! `src/report/snapshots/`; otherwise a difference fails the test.

use super::listing::{ListReport, Listed};
use super::{GilReport, RunReport, ScenarioReport};
use crate::measure::{new_histogram, Machine, Summary};
use crate::model::WorkerTrace;
use crate::runtime::trace::{Event, EventKind};
use crate::workload::CounterOutcome;

fn summary(p50: u64, scale: u64) -> Summary {
    Summary {
        count: 80,
        min: p50 * 9 / 10,
        mean: p50 * 11 / 10,
        p50,
        p90: p50 * 2,
        p99: p50 * scale,
        p999: p50 * scale,
        max: p50 * scale,
    }
}

fn run(model: &str, wall_ns: u64, speedup: Option<f64>, p50: u64, scale: u64) -> RunReport {
    let mut histogram = new_histogram();
    for i in 0..80u64 {
        histogram.record(p50 + i * p50 / 100).expect("in range");
    }
    RunReport {
        workers: 2,
        ops: 80,
        total_ops: 80,
        wall_ns,
        throughput_ops_per_s: 80.0 / (wall_ns as f64 / 1e9),
        speedup,
        latency_ns: summary(p50, scale),
        cpu_user_ns: 120_000_000,
        cpu_sys_ns: 1_500_000,
        voluntary_ctx_switches: 50,
        involuntary_ctx_switches: 7,
        minor_faults: 12,
        histogram,
        ..bare_run(model)
    }
}

/// A three-model cpu-bound report: sequential, gil (0.97x), threads (1.93x).
/// A row merged from three repeats whose wall times are `wall_ns` times 1, 0.98
/// and 1.03 (speedups in proportion), so it carries samples and a spread.
fn repeated(model: &str, wall_ns: u64, speedup: Option<f64>, p50: u64, scale: u64) -> RunReport {
    let reps = [1.0, 0.98, 1.03]
        .iter()
        .map(|f| {
            run(
                model,
                (wall_ns as f64 * f) as u64,
                speedup.map(|s| s / f),
                p50,
                scale,
            )
        })
        .collect();
    super::repeats::merge(reps).expect("three repeats")
}

pub fn scenario() -> ScenarioReport {
    let mut gil = repeated("gil", 126_000_000, Some(0.97), 1_530_000, 20);
    gil.gil = Some(GilReport {
        acquisitions: 21,
        drop_requests: Some(23),
        forced_switches: Some(5),
        hold_fraction: 0.99,
        wait_ns: summary(5_480_000, 3),
    });
    gil.counter = Some(CounterOutcome {
        expected: 160,
        observed: 160,
        lost: 0,
    });
    let mut threads = repeated("threads", 63_000_000, Some(1.93), 1_580_000, 4);
    threads.counter = Some(CounterOutcome {
        expected: 160,
        observed: 151,
        lost: 9,
    });
    threads
        .extra
        .insert("private_dirty_bytes".into(), (3u64 << 20).into());
    ScenarioReport {
        gilbench: "0.1.0",
        kind: "scenario",
        scenario: "cpu-bound".into(),
        summary: "CPU-bound workers: the GIL gives concurrency, not parallelism".into(),
        machine: Machine {
            cpus: 2,
            kernel: "6.1.0-fixture".into(),
            load: None,
        },
        config: serde_json::json!({"workers": 2, "ops": 40}),
        ctx_switch_calibration: None,
        runs: vec![
            repeated("sequential", 122_000_000, Some(1.0), 1_520_000, 3),
            gil,
            threads,
        ],
        headline: super::headline::of("cpu-bound").keys(),
        explanation: "Under `gil` the workers take turns.".into(),
        lesson: None,
        warnings: Vec::new(),
        timeline: None,
    }
}

/// One model's workers: (pid, role, events); worker indexes follow the order.
pub type Workers = Vec<(u32, &'static str, Vec<Event>)>;

/// A scenario report whose runs carry exactly these traces.
pub fn report_with(runs: &[(&str, Workers)]) -> ScenarioReport {
    ScenarioReport {
        gilbench: super::VERSION,
        kind: "scenario",
        scenario: "test".into(),
        summary: String::new(),
        machine: Machine {
            cpus: 2,
            kernel: "test".into(),
            load: None,
        },
        config: serde_json::json!({}),
        runs: runs
            .iter()
            .map(|(model, workers)| traced_run(model, workers))
            .collect(),
        headline: Vec::new(),
        explanation: String::new(),
        lesson: None,
        ctx_switch_calibration: None,
        warnings: Vec::new(),
        timeline: None,
    }
}

/// A trace event: a span, or an instant with `dur_ns` 0.
pub fn ev(kind: EventKind, start_ns: u64, dur_ns: u64) -> Event {
    Event {
        kind,
        start_ns,
        dur_ns,
    }
}

/// A run with no figures and no traces.
pub fn bare_run(model: &str) -> RunReport {
    traced_run(model, &Vec::new())
}

fn traced_run(model: &str, workers: &Workers) -> RunReport {
    let traces: Vec<WorkerTrace> = workers
        .iter()
        .enumerate()
        .map(|(index, (pid, role, events))| WorkerTrace {
            pid: *pid,
            index,
            role,
            events: events.clone(),
            dropped: 0,
        })
        .collect();
    RunReport {
        model: model.to_string(),
        workers: traces.len(),
        ops: 0,
        total_ops: 0,
        wall_ns: 0,
        throughput_ops_per_s: 0.0,
        speedup: None,
        latency_ns: Summary::default(),
        cpu_user_ns: 0,
        cpu_sys_ns: 0,
        voluntary_ctx_switches: 0,
        involuntary_ctx_switches: 0,
        minor_faults: 0,
        ctx_switch_cost_ns: None,
        startup_ns: None,
        gil: None,
        counter: None,
        extra: serde_json::Map::new(),
        histogram: new_histogram(),
        trace: super::trace::counts::TraceCounts::of(&traces),
        traces,
        repeat: Default::default(),
    }
}

/// Two built-in scenarios.
pub fn list() -> ListReport {
    ListReport {
        gilbench: "0.1.0",
        kind: "list",
        scenarios: vec![
            Listed {
                name: "cpu-bound".into(),
                models: vec!["sequential".into(), "gil".into()],
                summary: "CPU-bound workers: the GIL gives concurrency, not parallelism".into(),
                supported_models: vec!["sequential".into(), "gil".into(), "threads".into()],
            },
            Listed {
                name: "convoy".into(),
                models: vec!["gil".into(), "threads".into()],
                summary: "The convoy effect, \"bpo-7946\" | a switch interval".into(),
                supported_models: vec!["gil".into(), "threads".into()],
            },
        ],
    }
}

/// Compares `actual` with `src/report/snapshots/NAME`.
pub fn assert_snapshot(name: &str, actual: &[u8]) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/report/snapshots")
        .join(name);
    let actual = String::from_utf8(actual.to_vec()).expect("exporters write UTF-8");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &actual).expect("snapshot written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run `UPDATE_SNAPSHOTS=1 cargo test` to create it",
            path.display()
        )
    });
    assert_eq!(
        actual, expected,
        "{name} changed; if intended, run `UPDATE_SNAPSHOTS=1 cargo test` and review the diff"
    );
}
