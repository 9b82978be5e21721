//! What a report says about its traces: events kept and dropped over `--trace-limit`.
//!
//! A trace that silently lost its tail would mislead, so the JSON run carries
//! `"trace": {"events", "dropped"}` and the table prints one line about it.

use crate::model::WorkerTrace;
use crate::report::format::count;
use crate::report::ScenarioReport;
use serde::Serialize;

/// Events of one run, summed over its workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TraceCounts {
    /// Events kept in the trace.
    pub events: u64,
    /// Events not kept because a worker's buffer was full (`--trace-limit`).
    pub dropped: u64,
}

impl TraceCounts {
    /// The counts of a run's worker traces; `None` when the run was not traced.
    pub fn of(traces: &[WorkerTrace]) -> Option<TraceCounts> {
        (!traces.is_empty()).then(|| TraceCounts {
            events: traces.iter().map(|t| t.events.len() as u64).sum(),
            dropped: traces.iter().map(|t| t.dropped).sum(),
        })
    }
}

/// One line for the table: events kept (and dropped) per traced model.
pub fn note(report: &ScenarioReport) -> Option<String> {
    let parts: Vec<String> = report
        .runs
        .iter()
        .filter_map(|run| {
            let counts = run.trace?;
            Some(if counts.dropped > 0 {
                format!(
                    "{} {} kept, {} dropped",
                    run.model,
                    count(counts.events),
                    count(counts.dropped)
                )
            } else {
                format!("{} {}", run.model, count(counts.events))
            })
        })
        .collect();
    if parts.is_empty() {
        return None;
    }
    let mut line = format!("trace events: {}", parts.join(" · "));
    if report
        .runs
        .iter()
        .any(|r| r.trace.is_some_and(|c| c.dropped > 0))
    {
        let limit = report.config["trace_limit"]
            .as_u64()
            .map_or(String::new(), |l| format!(" of {} per worker", count(l)));
        line.push_str(&format!(
            "\n  (dropped: over --trace-limit{limit}; the trace, timeline and plot end early — raise it to keep them)"
        ));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::report_with;
    use crate::runtime::trace::{Event, EventKind};

    #[test]
    fn note_counts_events_and_warns_about_drops() {
        let held = Event {
            kind: EventKind::GilHeld,
            start_ns: 0,
            dur_ns: 1,
        };
        let mut report = report_with(&[("gil", vec![(1, "cpu", vec![held; 3])])]);
        assert_eq!(note(&report).unwrap(), "trace events: gil 3");
        report.runs[0].trace = Some(TraceCounts {
            events: 3,
            dropped: 1234,
        });
        report.config = serde_json::json!({"trace_limit": 3});
        let text = note(&report).unwrap();
        assert!(text.contains("gil 3 kept, 1,234 dropped"), "{text}");
        assert!(text.contains("--trace-limit of 3 per worker"), "{text}");
        report.runs[0].trace = None;
        assert_eq!(note(&report), None);
    }
}
