//! Warnings under a report: reasons not to trust its figures as they stand, each with
//! what to do (like hyperfine's "statistical outliers were detected").

use super::ScenarioReport;

/// Relative standard deviation of wall time above which a row's spread is "wide".
pub const WIDE_SPREAD: f64 = 0.10;

/// The warnings for `report`: a busy machine (from `machine.load`), a wide spread,
/// a single run.
pub fn warnings(report: &ScenarioReport) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(why) = report.machine.load.as_ref().and_then(|l| l.busy()) {
        out.push(format!(
            "the machine was busy while measuring: {why}. Figures that compare models \
             (speedup, latency) may be off; rerun on a quieter machine, or with more --runs \
             and read the spread"
        ));
    }
    let wide: Vec<String> = report
        .runs
        .iter()
        .filter(|r| r.repeat.modes.is_none())
        .filter_map(|r| {
            let s = r.repeat.spread.as_ref()?.wall_ns.as_f64();
            let rel = s.relative_stddev();
            (r.repeat.repeats > 1 && rel > WIDE_SPREAD)
                .then(|| format!("{} ±{:.0}%", super::bars::run_label(r), rel * 100.0))
        })
        .collect();
    if !wide.is_empty() {
        out.push(format!(
            "wide spread of wall time between runs ({}): something else ran, or the \
             runs are too short to be steady; close other programs, add --warmup 1, or \
             raise --runs or --ops",
            wide.join(", ")
        ));
    }
    if report.runs.iter().any(|r| r.repeat.repeats == 1) && report.runs.len() > 1 {
        let one = report.runs.iter().all(|r| r.repeat.repeats == 1);
        if one {
            out.push(
                "one run per model: no spread to judge the figures by; use --runs 3 or more"
                    .to_string(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::bare_run;
    use crate::report::repeats::merge;

    fn report_of(walls: &[&[u64]]) -> ScenarioReport {
        let mut r = crate::report::fixture::report_with(&[]);
        r.runs = walls
            .iter()
            .map(|w| {
                merge(
                    w.iter()
                        .map(|&ns| {
                            let mut run = bare_run("threads");
                            run.wall_ns = ns;
                            run
                        })
                        .collect(),
                )
                .unwrap()
            })
            .collect();
        r
    }

    #[test]
    fn wide_and_narrow_spreads() {
        assert!(warnings(&report_of(&[&[100, 101, 99]])).is_empty());
        let w = warnings(&report_of(&[&[100, 150, 60]]));
        assert_eq!(w.len(), 1);
        assert!(
            w[0].contains("threads ±") && w[0].contains("--runs"),
            "{w:?}"
        );
        let single = warnings(&report_of(&[&[100], &[200]]));
        assert!(single[0].contains("one run per model"));
    }

    #[test]
    fn a_busy_machine_is_named() {
        let mut r = report_of(&[&[100, 100, 100]]);
        let t = std::time::Instant::now();
        let snap = |busy, idle, own| crate::measure::load::Snapshot {
            taken: t,
            loadavg: [3.0, 2.0, 1.0],
            others_running: 2,
            cpu: crate::measure::load::CpuTicks {
                busy,
                idle,
                steal: 0,
            },
            own_ticks: own,
        };
        r.machine.load =
            // 1000 ticks: 800 busy, 100 of them ours.
            crate::measure::load::Load::from_snapshots(&[snap(0, 1000, 0), snap(800, 1200, 100)], 2);
        let w = warnings(&r);
        assert!(w[0].contains("busy") && w[0].contains("70%"), "{w:?}");
    }
}
