//! The probe reports (`ctxswitch`, `spawn`, `zombie`) as rows, for `--format csv`
//! and `--format markdown`: one row per probe result, with the report's `kind`
//! first so rows from several commands can be told apart.

use super::probes::{CtxswitchReport, SpawnReport, ZombieReport};
use super::rows::{Cell, Row, Tabular};

fn title(kind: &str, report_version: &str, machine: &crate::measure::Machine) -> String {
    format!(
        "gilbench {report_version} · {kind} · {} CPUs · Linux {}",
        machine.cpus, machine.kernel
    )
}

impl Tabular for CtxswitchReport {
    fn rows(&self) -> Vec<Row> {
        let context = [("kind", Cell::Text(self.kind.into()))];
        self.results.iter().map(|r| Row::of(&context, r)).collect()
    }

    fn title(&self) -> Option<String> {
        Some(title("ctxswitch", self.gilbench, &self.machine))
    }

    fn markdown_omits(&self) -> &'static [&'static str] {
        &[
            "kind",
            "switch_ns.count",
            "switch_ns.min",
            "switch_ns.mean",
            "switch_ns.p90",
            "switch_ns.p999",
            "round_trip_ns",
        ]
    }
}

impl Tabular for SpawnReport {
    fn rows(&self) -> Vec<Row> {
        let context = [("kind", Cell::Text(self.kind.into()))];
        self.results.iter().map(|r| Row::of(&context, r)).collect()
    }

    fn title(&self) -> Option<String> {
        Some(title("spawn", self.gilbench, &self.machine))
    }

    fn markdown_omits(&self) -> &'static [&'static str] {
        &[
            "kind",
            "latency_ns.count",
            "latency_ns.min",
            "latency_ns.mean",
            "latency_ns.p90",
            "latency_ns.p999",
            "create_ns",
        ]
    }
}

impl Tabular for ZombieReport {
    /// One row: the report itself, without its `ps`-like samples (lists of
    /// processes do not fit a cell; `--format json` has them).
    fn rows(&self) -> Vec<Row> {
        let mut row = Row::of(&[], self);
        row.0.retain(|(key, _)| {
            !matches!(
                key.as_str(),
                "before" | "after" | "orphans.new_parents" | "orphans.sample"
            ) && !key.starts_with("machine.")
        });
        vec![row]
    }

    fn title(&self) -> Option<String> {
        Some(title("zombie", self.gilbench, &self.machine))
    }

    fn markdown_omits(&self) -> &'static [&'static str] {
        &[
            "gilbench",
            "kind",
            "reap_ns.count",
            "reap_ns.min",
            "reap_ns.mean",
            "reap_ns.p90",
            "reap_ns.p999",
        ]
    }
}
