//! Figures with their spread, as the table shows them: `126 ms ± 3.1 ms`,
//! `1.93x ± 0.05`, `1.52–1.58 ms`; the runs behind each row; the groups a bimodal
//! result fell into; the warnings.
//!
//! A row of one run shows its figure alone: there is no spread to show.

use super::format::{duration_ns, rate};
use super::repeats::SpreadReport;
use super::{RunReport, ScenarioReport};
use crate::measure::stats::Spread;

/// The row's spread when it merged more than one run.
fn spread(run: &RunReport) -> Option<&SpreadReport> {
    run.repeat
        .spread
        .as_ref()
        .filter(|_| run.repeat.repeats > 1)
}

/// Wall time: median ± standard deviation.
pub fn wall(run: &RunReport) -> String {
    match spread(run) {
        Some(s) => format!(
            "{} ± {}",
            duration_ns(run.wall_ns),
            duration_ns(s.wall_ns.stddev)
        ),
        None => duration_ns(run.wall_ns),
    }
}

/// Throughput: median ± standard deviation.
pub fn ops_per_s(run: &RunReport) -> String {
    match spread(run) {
        Some(s) => format!(
            "{} ± {}",
            rate(run.throughput_ops_per_s),
            rate(s.throughput_ops_per_s.stddev).trim_end_matches("/s")
        ),
        None => rate(run.throughput_ops_per_s),
    }
}

/// Speedup: `1.93x ± 0.05`.
pub fn speedup(run: &RunReport) -> String {
    let Some(s) = run.speedup else {
        return "–".into();
    };
    match spread(run).and_then(|sp| sp.speedup) {
        Some(sp) => format!("{} ± {}", super::bars::times(s), plus_minus(sp)),
        None => super::bars::times(s),
    }
}

/// The speedup's ± for the speedup words: ` ± 0.03` (empty for one run).
pub fn speedup_pm(run: &RunReport) -> String {
    match spread(run).and_then(|sp| sp.speedup) {
        Some(sp) => format!(" ± {}", plus_minus(sp)),
        None => String::new(),
    }
}

/// ` over 5 runs` (empty for one run).
pub fn over_runs(run: &RunReport) -> String {
    match spread(run) {
        Some(_) => format!(" over {} runs", run.repeat.repeats),
        None => String::new(),
    }
}

fn plus_minus(sp: Spread<f64>) -> String {
    if sp.stddev >= 0.01 || sp.stddev == 0.0 {
        format!("{:.2}", sp.stddev)
    } else {
        format!("{:.3}", sp.stddev)
            .trim_end_matches('0')
            .to_string()
    }
}

/// A latency median as the range it took over the runs: `1.52–1.58 ms`.
pub fn p50(run: &RunReport) -> String {
    match spread(run) {
        Some(s) if s.latency_p50_ns.min != s.latency_p50_ns.max => range(s.latency_p50_ns),
        _ => duration_ns(run.latency_ns.p50),
    }
}

/// A spread of times as its lowest–highest value: `1.52–1.58 ms`.
pub fn range(s: Spread<u64>) -> String {
    let (lo, hi) = (duration_ns(s.min), duration_ns(s.max));
    // `1.52 ms–1.58 ms` reads better as `1.52–1.58 ms` when the units agree.
    match (lo.rsplit_once(' '), hi.rsplit_once(' ')) {
        (Some((a, ua)), Some((b, ub))) if ua == ub => format!("{a}–{b} {ub}"),
        _ => format!("{lo}–{hi}"),
    }
}

/// Lines under the table: how many runs each figure is the median of, and each row
/// whose runs split into groups.
pub fn notes(report: &ScenarioReport) -> String {
    let mut out = String::new();
    let counts: Vec<usize> = report.runs.iter().map(|r| r.repeat.repeats).collect();
    if let (Some(&first), Some(&max)) = (counts.first(), counts.iter().max()) {
        if max > 1 {
            let runs = if counts.iter().all(|&c| c == first) {
                format!("{first} runs of each model")
            } else {
                let each: Vec<String> = report
                    .runs
                    .iter()
                    .map(|r| format!("{} {}", super::bars::run_label(r), r.repeat.repeats))
                    .collect();
                format!("runs per model: {}", each.join(", "))
            };
            // The p50 range is explained only where the table has a p50 (fork-cow's
            // runs time no op, so its table has none).
            let p50 = if super::headline::of(report.config["workload"].as_str().unwrap_or(""))
                .shows_latency()
            {
                ", and p50 shows the range of the runs' medians"
            } else {
                ""
            };
            out.push_str(&format!(
                "Figures are medians of {runs}; ± is the standard deviation across \
                 runs{p50}.\n"
            ));
        }
    }
    for run in &report.runs {
        let Some(modes) = &run.repeat.modes else {
            continue;
        };
        let n = run.repeat.repeats;
        let groups: Vec<String> = modes
            .iter()
            .rev()
            .map(|m| {
                format!(
                    "{} of {n} runs: p50 {}",
                    m.runs,
                    duration_ns(m.latency_p50_ns)
                )
            })
            .collect();
        out.push_str(&format!(
            "{}: the runs fell into {} groups, not one: {}. The median describes neither; \
             read each group.\n",
            super::bars::run_label(run),
            modes.len(),
            groups.join("; ")
        ));
    }
    out
}

/// The report's warnings, one paragraph each.
pub fn warnings(report: &ScenarioReport) -> String {
    report
        .warnings
        .iter()
        .map(|w| format!("warning: {w}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn figures_with_their_spread() {
        let report = fixture::scenario();
        let threads = &report.runs[2];
        assert_eq!(wall(threads), "63.0 ms ± 1.59 ms");
        assert!(
            speedup(threads).starts_with("1.93x ± 0.0"),
            "{}",
            speedup(threads)
        );
        assert_eq!(over_runs(threads), " over 3 runs");
        assert!(speedup_pm(threads).starts_with(" ± 0.0"));
        assert_eq!(p50(threads), "1.58 ms", "same p50 in every run");
        assert!(notes(&report).contains("medians of 3 runs of each model"));
        let one = crate::report::fixture::bare_run("gil");
        assert_eq!(speedup_pm(&one), "");
        assert_eq!(
            range(Spread {
                min: 1_520_000,
                median: 0,
                max: 1_580_000,
                mean: 0,
                stddev: 0
            }),
            "1.52–1.58 ms"
        );
        assert_eq!(
            range(Spread {
                min: 19_000,
                median: 0,
                max: 10_400_000,
                mean: 0,
                stddev: 0
            }),
            "19.0 µs–10.4 ms"
        );
    }

    #[test]
    fn groups_are_named_with_counts() {
        let mut report = fixture::scenario();
        let reps = [10_400_000u64, 19_000, 10_350_000, 21_000, 10_500_000]
            .iter()
            .map(|&p| {
                let mut r = crate::report::fixture::bare_run("gil");
                r.latency_ns.count = 10;
                r.latency_ns.p50 = p;
                r
            })
            .collect();
        report.runs = vec![super::super::repeats::merge(reps).unwrap()];
        let text = notes(&report);
        assert!(
            text.contains("3 of 5 runs: p50 10.4 ms; 2 of 5 runs: p50 20.0 µs"),
            "{text}"
        );
    }
}
