//! The terminal pictures: a latency bar per model and the speedup in words.
//!
//! Each model gets one line on a shared logarithmic axis, shaded by percentile —
//! solid up to the median, then lighter to p90, p99 and the maximum — so a tail
//! that is ten times the median shows as a long light tail at a glance:
//!
//! ```text
//! latency per op   █ p50  ▓ p90  ▒ p99  ░ max
//!   sequential  ██████████████████████▓▒            p50 1.53 ms  p99 5.55 ms
//!   gil         ██████████████████████▓▓▓▓▓▒▒▒▒░    p50 1.53 ms  p99 29.6 ms
//!               ├─────────┼─────────┼─────────┤
//!               100 µs    1 ms      10 ms     100 ms
//! ```
//!
//! Both work from the report's summaries alone, so CPython rows (which carry no
//! histogram) are drawn like the rest.

use super::colour::{Palette, Style};
use super::format::duration_ns;
use super::{RunReport, ScenarioReport};

/// Shading from the start of the axis up to each percentile.
const SHADES: [(char, &str); 4] = [('█', "p50"), ('▓', "p90"), ('▒', "p99"), ('░', "max")];

/// The latency picture, or nothing when no model recorded a latency.
pub fn latency_picture(report: &ScenarioReport, palette: Palette) -> String {
    let runs: Vec<(usize, &RunReport)> = report
        .runs
        .iter()
        .enumerate()
        .filter(|(_, r)| r.latency_ns.count > 0)
        .collect();
    if runs.is_empty() {
        return String::new();
    }
    let lo = runs
        .iter()
        .map(|(_, r)| r.latency_ns.min.max(1))
        .min()
        .unwrap_or(1);
    let hi = runs
        .iter()
        .map(|(_, r)| r.latency_ns.max.max(1))
        .max()
        .unwrap_or(1);
    let axis = Axis::new(lo, hi);
    let name_width = runs
        .iter()
        .map(|(_, r)| run_label(r).chars().count())
        .max()
        .unwrap_or(0);

    let mut out = String::new();
    let legend: Vec<String> = SHADES.iter().map(|(c, p)| format!("{c} {p}")).collect();
    out.push_str(&format!(
        "{}   {}\n",
        palette.paint("latency per op", Style::Bold),
        palette.paint(&legend.join("  "), Style::Dim)
    ));
    for (index, run) in &runs {
        let s = &run.latency_ns;
        let edges = [s.p50, s.p90, s.p99, s.max].map(|v| axis.position(v));
        let bar: String = (0..axis.width)
            .map(|col| {
                SHADES
                    .iter()
                    .zip(edges)
                    .find(|(_, edge)| col < *edge)
                    .map_or(' ', |((c, _), _)| *c)
            })
            .collect();
        out.push_str(&format!(
            "  {:<name_width$}  {}  p50 {}  p99 {}  max {}\n",
            run_label(run),
            palette.paint(&bar, Style::Model(*index)),
            duration_ns(s.p50),
            duration_ns(s.p99),
            duration_ns(s.max),
        ));
    }
    let indent = " ".repeat(name_width + 4);
    out.push_str(&format!(
        "{indent}{}\n",
        palette.paint(&axis.line(), Style::Dim)
    ));
    out.push_str(&format!(
        "{indent}{}\n",
        palette.paint(&axis.labels(), Style::Dim)
    ));
    out
}

/// A logarithmic axis of nanoseconds whose ends are round (1, 2 or 5 × 10^k),
/// ticked at every power of ten between them.
#[derive(Debug)]
struct Axis {
    /// log10 of the ends.
    lo: f64,
    hi: f64,
    width: usize,
    /// (column, label) of each tick, left to right.
    ticks: Vec<(usize, String)>,
}

impl Axis {
    fn new(lo: u64, hi: u64) -> Axis {
        let (lo_m, lo_e) = round_down(lo.max(1));
        let (mut hi_m, mut hi_e) = round_up(hi.max(1));
        if (hi_m, hi_e) == (lo_m, lo_e) {
            (hi_m, hi_e) = next_up(hi_m, hi_e);
        }
        let value = |m: u64, e: i32| (m as f64).log10() + f64::from(e);
        let (lo_log, hi_log) = (value(lo_m, lo_e), value(hi_m, hi_e));
        // About eight columns a decade; 24 to 40 in all, so a line stays near 90.
        let width = ((hi_log - lo_log) * 8.0).round().clamp(24.0, 40.0) as usize;
        let mut axis = Axis {
            lo: lo_log,
            hi: hi_log,
            width,
            ticks: Vec::new(),
        };
        let mut ticks = vec![(0, round_label(lo_m, lo_e))];
        for e in lo_e..=hi_e {
            let log = f64::from(e);
            if log > lo_log && log < hi_log {
                ticks.push((axis.column(log), round_label(1, e)));
            }
        }
        ticks.push((width, round_label(hi_m, hi_e)));
        axis.ticks = ticks;
        axis
    }

    fn column(&self, log: f64) -> usize {
        let x = (log - self.lo) / (self.hi - self.lo);
        (x * self.width as f64)
            .round()
            .clamp(0.0, self.width as f64) as usize
    }

    /// Columns from the start of the axis to `ns`; at least 1 for any sample.
    fn position(&self, ns: u64) -> usize {
        self.column((ns.max(1) as f64).log10()).max(1)
    }

    fn line(&self) -> String {
        let mut line: Vec<char> = vec!['─'; self.width + 1];
        for (at, _) in &self.ticks {
            line[*at] = '┼';
        }
        line[0] = '├';
        line[self.width] = '┤';
        line.into_iter().collect()
    }

    fn labels(&self) -> String {
        let mut out = String::new();
        for (at, label) in &self.ticks {
            let used = out.chars().count();
            // Skip a label that would run into the previous one.
            if *at < used + usize::from(used > 0) {
                continue;
            }
            out.push_str(&" ".repeat(at - used));
            out.push_str(label);
        }
        out
    }
}

/// The largest 1, 2 or 5 × 10^e not above `v`, as (mantissa, e).
fn round_down(v: u64) -> (u64, i32) {
    let e = (v as f64).log10().floor() as i32;
    let lead = v / 10u64.pow(e as u32);
    let m = [5, 2, 1].into_iter().find(|m| *m <= lead).unwrap_or(1);
    (m, e)
}

/// The smallest 1, 2 or 5 × 10^e not below `v`.
fn round_up(v: u64) -> (u64, i32) {
    let (m, e) = round_down(v);
    if m * 10u64.pow(e as u32) == v {
        (m, e)
    } else {
        next_up(m, e)
    }
}

fn next_up(m: u64, e: i32) -> (u64, i32) {
    match m {
        1 => (2, e),
        2 => (5, e),
        _ => (1, e + 1),
    }
}

/// `m × 10^e` ns as `1 ns`, `20 µs`, `500 ms`, `2 s`, `1000 s`.
fn round_label(m: u64, e: i32) -> String {
    let units = ["ns", "µs", "ms", "s"];
    let group = (e / 3).clamp(0, 3) as usize;
    let mantissa = m * 10u64.pow((e - 3 * group as i32).max(0) as u32);
    format!("{mantissa} {}", units[group])
}

/// A run's name in pictures and files: the model, and the variant when a workload
/// runs several per model (`processes read-refcounted` in fork-cow). The same rule
/// as the extras table's `run_label`.
pub fn run_label(run: &RunReport) -> String {
    match run.extra.get("variant").and_then(|v| v.as_str()) {
        Some(variant) => format!("{} {variant}", run.model),
        None => run.model.clone(),
    }
}

/// A speedup as `1.93x`, with more digits below 0.1 so a convoy's `0.0048x` does
/// not read `0.00x`.
pub fn times(s: f64) -> String {
    if s >= 0.1 {
        format!("{s:.2}x")
    } else if s >= 0.01 {
        format!("{s:.3}x")
    } else {
        format!("{s:.4}x")
    }
}

/// The baseline a row's speedup is measured against.
pub fn baseline_of(model: &str) -> &'static str {
    if model.starts_with("cpython-") {
        "cpython-sequential"
    } else {
        "sequential"
    }
}

/// "0.97x of sequential — no parallelism" (or a full or partial speedup: the
/// workers at once, in parallel or overlapping their waits), and how good that is; `None` for the
/// baseline itself and for runs without a speedup.
pub fn speedup_words(run: &RunReport) -> Option<(String, Style)> {
    let s = run.speedup?;
    let baseline = baseline_of(&run.model);
    if run.model == baseline {
        return None;
    }
    let w = run.workers;
    // Workers that share one GIL which was held nearly all the time ran one at a
    // time: a speedup above 1x is a slowed baseline, not parallelism.
    let one_gil_busy = run
        .model
        .rsplit_once("cpython")
        .map_or(run.model.as_str(), |(_, rest)| {
            rest.split_once('-').map_or(rest, |(_, m)| m)
        })
        .starts_with("gil")
        && run.gil.as_ref().is_some_and(|g| g.hold_fraction >= 0.9);
    let (words, style) = if s >= 1.2 && one_gil_busy {
        (
            format!(
                "not parallelism: one thread held the GIL {:.0}% of the time, so the \
                 baseline was slowed (a busy machine); rerun",
                100.0 * run.gil.as_ref().map_or(0.0, |g| g.hold_fraction)
            ),
            Style::Neutral,
        )
    } else if s < 0.85 {
        (
            "slower than one thread doing all the work".to_string(),
            Style::Bad,
        )
    } else if s < 1.2 {
        ("no parallelism".to_string(), Style::Neutral)
    } else if w >= 2 && s >= 0.85 * w as f64 {
        // "Speedup", not "parallelism": I/O-bound workers get it under one GIL by
        // overlapping their waits (4 workers on 2 CPUs), which is concurrency.
        (
            format!("full speedup: all {w} workers at once"),
            Style::Good,
        )
    } else {
        (
            format!("partial speedup: like {s:.1} of {w} workers at once"),
            Style::Good,
        )
    };
    Some((
        format!(
            "{}{} of {baseline}{} — {words}",
            times(s),
            super::spread_text::speedup_pm(run),
            super::spread_text::over_runs(run)
        ),
        style,
    ))
}

/// One line per non-baseline model: `gil: 0.97x of sequential — no parallelism`.
pub fn speedup_lines(report: &ScenarioReport, palette: Palette) -> String {
    let mut out = String::new();
    for (index, run) in report.runs.iter().enumerate() {
        let Some((words, style)) = speedup_words(run) else {
            continue;
        };
        if out.is_empty() {
            out.push_str(&format!(
                "{}\n",
                palette.paint("speedup (throughput against the baseline)", Style::Bold)
            ));
        }
        let (number, rest) = words.split_once(' ').unwrap_or((&words, ""));
        out.push_str(&format!(
            "  {}: {} {rest}\n",
            palette.paint(&run_label(run), Style::Model(index)),
            palette.paint(number, style),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn round_numbers() {
        assert_eq!(round_label(1, 0), "1 ns");
        assert_eq!(round_label(2, 4), "20 µs");
        assert_eq!(round_label(5, 8), "500 ms");
        assert_eq!(round_label(1, 9), "1 s");
        assert_eq!(round_label(1, 12), "1000 s");
        assert_eq!(round_down(148_000), (1, 5));
        assert_eq!(round_down(11_500_000), (1, 7));
        assert_eq!(round_down(6_000), (5, 3));
        assert_eq!(round_up(11_500_000), (2, 7));
        assert_eq!(round_up(5_000), (5, 3));
        assert_eq!(round_up(1), (1, 0));
    }

    #[test]
    fn axis_positions_are_monotonic_and_bounded() {
        let axis = Axis::new(1_000, 10_000_000);
        assert_eq!(axis.position(1_000), 1);
        assert_eq!(axis.position(10_000_000), axis.width);
        assert!(axis.position(100_000) < axis.position(1_000_000));
        assert_eq!(axis.line().chars().count(), axis.width + 1);
        assert!(axis.labels().starts_with("1 µs"), "{}", axis.labels());
        assert!(axis.labels().ends_with("10 ms"), "{}", axis.labels());
        // Equal ends still make an axis.
        let flat = Axis::new(5_000, 5_000);
        assert!(flat.hi > flat.lo);
        assert_eq!(flat.position(5_000), 1);
    }

    #[test]
    fn small_speedups_keep_their_digits() {
        assert_eq!(times(1.934), "1.93x");
        assert_eq!(times(0.048), "0.048x");
        assert_eq!(times(0.00482), "0.0048x");
    }

    #[test]
    fn words() {
        let report = fixture::scenario();
        let gil = &report.runs[1];
        let (text, style) = speedup_words(gil).unwrap();
        assert_eq!(
            text,
            "0.97x ± 0.02 of sequential over 3 runs — no parallelism"
        );
        assert_eq!(style, Style::Neutral);
        assert!(speedup_words(&report.runs[0]).is_none());
        let (text, _) = speedup_words(&report.runs[2]).unwrap();
        assert_eq!(
            text,
            "1.93x ± 0.05 of sequential over 3 runs — full speedup: all 2 workers at once"
        );
        // One GIL held all the time cannot run two workers at once: above 1x the
        // baseline was slowed, and the words say so rather than "parallelism".
        let mut busy = fixture::scenario();
        let gil = &mut busy.runs[1];
        gil.speedup = Some(1.34);
        gil.repeat.repeats = 1;
        let (text, _) = speedup_words(gil).unwrap();
        assert!(
            text.contains("not parallelism: one thread held the GIL 99%"),
            "{text}"
        );
        gil.model = "cpython3.9-gil-legacy".into();
        assert!(speedup_words(gil).unwrap().0.contains("not parallelism"));
    }

    #[test]
    fn picture_has_a_bar_per_model_and_no_colour_when_plain() {
        let report = fixture::scenario();
        let text = latency_picture(&report, Palette::plain());
        assert!(!text.contains('\x1b'));
        for run in &report.runs {
            assert!(
                text.lines().any(|l| l.trim_start().starts_with(&run.model)),
                "{text}"
            );
        }
        let coloured = latency_picture(&report, Palette::ansi());
        assert!(coloured.contains("\x1b[36m"));
        let speed = speedup_lines(&report, Palette::plain());
        assert!(
            speed.contains("gil: 0.97x ± 0.02 of sequential over 3 runs — no parallelism"),
            "{speed}"
        );
    }
}
