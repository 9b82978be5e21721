//! `gilbench tour`'s report: every stop's concept, its scenario's report, the one
//! number compared across models and the lesson drawn from it; one screen of text,
//! or a row per stop and model for Markdown and CSV.

use super::bars::{run_label, times};
use super::colour::{Palette, Style};
use super::format::{duration_ns, rate};
use super::render::Report;
use super::rows::{Cell, Row};
use super::{RunReport, ScenarioReport};
use crate::measure::Machine;
use serde::Serialize;

/// The number a stop compares across models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Throughput against sequential.
    Speedup,
    /// Operations per second.
    Throughput,
    /// Median and 99th-percentile op latency.
    Tail,
    /// Lost updates, as a share of increments.
    Lost,
    /// Items per second and the median put-to-get latency.
    RateAndP50,
    /// Speedup and the time to start the workers (interpreters, processes).
    SpeedupAndStartup,
    /// Any flattened field of a run (`refcount.corrupted`), formatted by its key,
    /// and the words to show for it.
    Field(&'static str, &'static str),
}

impl Metric {
    /// The words for it, as the stop's column says.
    pub fn label(self) -> &'static str {
        match self {
            Metric::Speedup => "speedup",
            Metric::Throughput => "ops/s",
            Metric::Tail => "p50 / p99",
            Metric::Lost => "lost updates",
            Metric::RateAndP50 => "items/s · p50",
            Metric::SpeedupAndStartup => "speedup · start-up",
            Metric::Field(_, label) => label,
        }
    }

    /// `run`'s value of it, for people.
    pub fn show(self, run: &RunReport) -> String {
        match self {
            Metric::Speedup => run.speedup.map_or("–".into(), times),
            Metric::Throughput => rate(run.throughput_ops_per_s),
            Metric::Tail => format!(
                "{} / {}",
                duration_ns(run.latency_ns.p50),
                duration_ns(run.latency_ns.p99)
            ),
            Metric::Lost => run.counter.map_or("–".into(), super::lessons::lost_words),
            Metric::RateAndP50 => format!(
                "{} · {}",
                rate(run.throughput_ops_per_s),
                duration_ns(run.latency_ns.p50)
            ),
            Metric::SpeedupAndStartup => format!(
                "{} · {}",
                run.speedup.map_or("–".into(), times),
                run.startup_ns.map_or("–".into(), duration_ns)
            ),
            // A zero duration is no event (the I/O worker alone never collects).
            Metric::Field(key, _) => match Row::of(&[], run).get(key) {
                Some(Cell::Number(n))
                    if super::markdown::is_duration(key) && n.as_u64() == Some(0) =>
                {
                    "–".into()
                }
                Some(c) => super::markdown::value(key, c),
                None => "–".into(),
            },
        }
    }
}

/// Every stop's outcome.
#[derive(Debug, Serialize)]
pub struct TourReport {
    /// gilbench's version.
    pub gilbench: &'static str,
    /// Always `"tour"`.
    pub kind: &'static str,
    /// Where it ran.
    pub machine: Machine,
    /// Wall time of the whole tour, ns.
    pub wall_ns: u64,
    /// The stops, in order.
    pub stops: Vec<StopReport>,
    /// Concepts shown by other commands.
    pub see_also: Vec<SeeAlso>,
}

/// One stop: the concept, the scenario's report, and the lesson.
#[derive(Debug, Serialize)]
pub struct StopReport {
    /// The concept.
    pub concept: String,
    /// The scenario run.
    pub scenario: String,
    /// What the numbers show (null when skipped).
    pub lesson: Option<String>,
    /// Why it did not run (null when it ran).
    pub skipped: Option<String>,
    /// The compared number's name.
    pub metric: String,
    /// Models that failed, with why.
    pub failed: Vec<String>,
    /// The scenario's full report.
    pub report: Option<ScenarioReport>,
    /// How to show the compared number.
    #[serde(skip)]
    pub shown_by: Metric,
}

/// A concept shown by another command.
#[derive(Debug, Serialize)]
pub struct SeeAlso {
    /// The concept.
    pub concept: String,
    /// The command to run.
    pub command: String,
}

/// The one-screen text form.
fn render(tour: &TourReport, palette: Palette) -> String {
    let mut out = String::new();
    let ran = tour.stops.iter().filter(|s| s.report.is_some()).count();
    out.push_str(&palette.paint(
        &format!(
            "gilbench tour · {} CPUs · Linux {} · {ran} stops in {}",
            tour.machine.cpus,
            tour.machine.kernel,
            duration_ns(tour.wall_ns)
        ),
        Style::Bold,
    ));
    out.push_str("\n\n");
    let mut number = 0;
    for stop in &tour.stops {
        number += 1;
        out.push_str(&format!(
            "{} {}\n",
            palette.paint(&format!("{number:>2}."), Style::Bold),
            palette.paint(&stop.concept, Style::Bold)
        ));
        let Some(report) = &stop.report else {
            let why = stop.skipped.as_deref().unwrap_or("skipped");
            out.push_str(&format!(
                "    {}\n",
                palette.paint(&format!("scenario {} — {why}", stop.scenario), Style::Dim)
            ));
            continue;
        };
        let metric = stop.shown_by;
        // Models side by side, wrapped between cells (widths from the plain text,
        // colour added after).
        let lead = format!("    {:<15} {:<13} ", stop.scenario, stop.metric);
        let indent = lead.chars().count();
        let mut line = format!(
            "    {:<15} {} ",
            stop.scenario,
            palette.paint(&format!("{:<13}", stop.metric), Style::Dim)
        );
        let mut used = indent;
        for (i, run) in report.runs.iter().enumerate() {
            let value = metric.show(run);
            let name = run_label(run);
            let width = name.chars().count() + 1 + value.chars().count();
            if used > indent && used + 3 + width > 100 {
                out.push_str(line.trim_end());
                out.push('\n');
                line = " ".repeat(indent);
                used = indent;
            } else if used > indent {
                line.push_str("   ");
                used += 3;
            }
            line.push_str(&format!(
                "{} {value}",
                palette.paint(&name, Style::Model(i))
            ));
            used += width;
        }
        out.push_str(line.trim_end());
        out.push('\n');
        for failed in &stop.failed {
            out.push_str(&format!(
                "    {}\n",
                palette.paint(&format!("– {failed}"), Style::Dim)
            ));
        }
        if let Some(lesson) = &stop.lesson {
            out.push_str(&wrap(&format!("→ {lesson}"), "    ", "      ", 100));
        }
    }
    out.push('\n');
    out.push_str(&palette.paint("Shown by other commands:", Style::Bold));
    out.push('\n');
    for p in &tour.see_also {
        out.push_str(&format!(
            "    {:<52} {}\n",
            p.concept,
            palette.paint(&p.command, Style::Dim)
        ));
    }
    out.push('\n');
    out.push_str(&wrap(
        "Next: `gilbench scenario NAME` for the full table, `--plot FILE.svg` for a picture, \
         `--cpython` to put real CPython beside the simulation.",
        "",
        "      ",
        100,
    ));
    out
}

/// Word-wraps `text` to `width` columns: `first` before the first line, `rest`
/// before the others.
pub fn wrap(text: &str, first: &str, rest: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = first.to_string();
    let mut empty = true;
    for word in text.split_whitespace() {
        if !empty && line.chars().count() + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = rest.to_string();
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
    out
}

impl Report for TourReport {
    fn rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for (i, stop) in self.stops.iter().enumerate() {
            let Some(report) = &stop.report else { continue };
            let context = [
                ("stop", Cell::Number((i as u64 + 1).into())),
                ("scenario", Cell::Text(stop.scenario.clone())),
            ];
            rows.extend(report.runs.iter().map(|run| Row::of(&context, run)));
        }
        rows
    }

    fn title(&self) -> Option<String> {
        Some(format!(
            "gilbench tour · {} CPUs · Linux {}",
            self.machine.cpus, self.machine.kernel
        ))
    }

    fn notes(&self) -> Option<String> {
        let lines: Vec<String> = self
            .stops
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                Some(format!(
                    "{}. **{}** — {}",
                    i + 1,
                    s.concept,
                    s.lesson.as_ref()?
                ))
            })
            .collect();
        Some(lines.join("\n"))
    }

    /// One row per stop and model: the stop's compared number, as the table shows it
    /// (every other field is in CSV and JSON).
    fn markdown_rows(&self) -> Vec<Row> {
        let mut rows = Vec::new();
        for (i, stop) in self.stops.iter().enumerate() {
            let Some(report) = &stop.report else { continue };
            for run in &report.runs {
                rows.push(Row(vec![
                    ("stop".into(), Cell::Number((i as u64 + 1).into())),
                    ("scenario".into(), Cell::Text(stop.scenario.clone())),
                    ("model".into(), Cell::Text(run_label(run))),
                    (stop.metric.clone(), Cell::Text(stop.shown_by.show(run))),
                ]));
            }
        }
        rows
    }

    fn table(&self, palette: Palette) -> String {
        render(self, palette)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping() {
        assert_eq!(wrap("a b c", "> ", "  ", 5), "> a b\n  c\n");
        assert_eq!(wrap("word", "", "", 2), "word\n");
    }
}
