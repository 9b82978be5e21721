//! Hand-made reports for exporter unit tests: no run, no timing noise.

use super::{RunReport, ScenarioReport};
use crate::measure::{new_histogram, Machine, Summary};
use crate::model::WorkerTrace;
use crate::runtime::trace::Event;

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
            .map(|(model, workers)| run(model, workers))
            .collect(),
        explanation: String::new(),
        ctx_switch_calibration: None,
        warnings: Vec::new(),
    }
}

/// A run with no figures and no traces.
pub fn bare_run(model: &str) -> RunReport {
    run(model, &Vec::new())
}

fn run(model: &str, workers: &Workers) -> RunReport {
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
        trace: super::traces::TraceCounts::of(&traces),
        traces,
        repeat: Default::default(),
    }
}
