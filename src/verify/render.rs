//! `verify` as a [`Report`]: JSON is the report serialised; CSV and Markdown
//! read one row per check (figures as text: a median with its range); the
//! terminal view is a table with the tolerances and their reasons under it.

use super::{CheckResult, VerifyReport};
use crate::measure::stats::Spread;
use crate::report::colour::Palette;
use crate::report::render::Report;
use crate::report::rows::Row;
use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

/// A figure's median with its range over the repeats: `1.02 (0.98–1.05)`.
fn figure(metric: &str, spread: Option<&Spread<f64>>) -> String {
    let Some(s) = spread else {
        return "–".into();
    };
    let one = |v: f64| {
        if metric == "lost share" {
            format!("{:.1}%", v * 100.0)
        } else {
            format!("{v:.2}")
        }
    };
    if s.max > s.min {
        format!("{} ({}–{})", one(s.median), one(s.min), one(s.max))
    } else {
        one(s.median)
    }
}

/// One line per interpreter: `3.11.7: 0.98 (0.9–1.0)`.
fn cpython_cell(check: &CheckResult, sep: &str) -> String {
    if check.cpython.is_empty() {
        return "–".into();
    }
    check
        .cpython
        .iter()
        .map(|c| {
            format!(
                "{}: {}",
                c.interpreter,
                figure(&check.metric, c.value.as_ref())
            )
        })
        .collect::<Vec<_>>()
        .join(sep)
}

/// The verdict and what decided it, per interpreter where they differ.
fn note(check: &CheckResult) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !check.note.is_empty() {
        parts.push(check.note.clone());
    }
    for c in &check.cpython {
        if !c.note.is_empty() && c.note != check.note {
            parts.push(format!("{}: {}", c.interpreter, c.note));
        }
    }
    parts.join("; ")
}

fn counts(report: &VerifyReport) -> String {
    format!(
        "{} agree, {} differ, {} inconclusive, {} skipped",
        report.agrees, report.differs, report.inconclusive, report.skipped
    )
}

fn heading(report: &VerifyReport) -> String {
    let interps: Vec<String> = report
        .interpreters
        .iter()
        .map(|i| {
            format!(
                "{} ({})",
                i["version"].as_str().unwrap_or("?"),
                i["path"].as_str().unwrap_or("?")
            )
        })
        .collect();
    let load = report
        .machine
        .load
        .as_ref()
        .map(|l| {
            let busy = l
                .busy()
                .map_or_else(|| "quiet".to_string(), |b| format!("busy: {b}"));
            format!(
                " · load average {:.2} {:.2} {:.2} ({busy})",
                l.loadavg[0], l.loadavg[1], l.loadavg[2]
            )
        })
        .unwrap_or_default();
    format!(
        "gilbench {} · verify · {} CPUs · Linux {}{load}\ninterpreters: {}",
        report.gilbench,
        report.machine.cpus,
        report.machine.kernel,
        if interps.is_empty() {
            "none".to_string()
        } else {
            interps.join(", ")
        }
    )
}

/// The terminal table.
fn table(report: &VerifyReport) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_HORIZONTAL_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(160)
        .set_header([
            "check",
            "figure",
            "model",
            "simulated",
            "CPython",
            "tolerance",
            "verdict",
            "note",
        ]);
    for c in &report.checks {
        t.add_row([
            c.check.clone(),
            c.metric.clone(),
            c.model.clone(),
            figure(&c.metric, c.simulated.as_ref()),
            cpython_cell(c, "\n"),
            c.tolerance.clone(),
            c.verdict.name().to_string(),
            note(c),
        ]);
    }
    let mut out = format!("{}\n\n{t}\n{}\n", heading(report), counts(report));
    out.push_str("\nTolerances (why each is as wide as it is):\n");
    let mut seen: Vec<&str> = Vec::new();
    for c in &report.checks {
        if !seen.contains(&c.check.as_str()) {
            seen.push(&c.check);
            out.push_str(&format!(
                "  {}: {} — {}\n",
                c.check, c.tolerance, c.tolerance_why
            ));
        }
    }
    for f in &report.failed {
        out.push_str(&format!("failed: {f}\n"));
    }
    out
}

/// One check as a CSV or Markdown row.
#[derive(Serialize)]
struct Line {
    check: String,
    concept: String,
    metric: String,
    model: String,
    simulated: String,
    cpython: String,
    tolerance: String,
    verdict: &'static str,
    note: String,
}

impl Report for VerifyReport {
    fn rows(&self) -> Vec<Row> {
        self.checks
            .iter()
            .map(|c| {
                Row::of(
                    &[],
                    &Line {
                        check: c.check.clone(),
                        concept: c.concept.clone(),
                        metric: c.metric.clone(),
                        model: c.model.clone(),
                        simulated: figure(&c.metric, c.simulated.as_ref()),
                        cpython: cpython_cell(c, "; "),
                        tolerance: c.tolerance.clone(),
                        verdict: c.verdict.name(),
                        note: note(c),
                    },
                )
            })
            .collect()
    }

    fn title(&self) -> Option<String> {
        heading(self).lines().next().map(str::to_string)
    }

    fn notes(&self) -> Option<String> {
        let mut notes = heading(self).lines().skip(1).collect::<Vec<_>>().join("\n");
        notes.push_str(&format!("\n\n{}", counts(self)));
        for f in &self.failed {
            notes.push_str(&format!("\n\nfailed: {f}"));
        }
        Some(notes)
    }

    fn markdown_omits(&self) -> &'static [&'static str] {
        &["concept"]
    }

    fn table(&self, _palette: Palette) -> String {
        table(self)
    }
}
