//! Repeated runs of one model → one row: medians, the samples, their spread, modes.
//!
//! Every row of a scenario report is a merge of its repeats (one repeat is a merge of
//! one). The row's existing fields hold medians, each field on its own (PRODUCT.md:
//! "each RUN's fields are medians over repeats"); fields that are not numbers (the
//! model, scenario-specific extras, traces) come from the *typical* repeat, the one
//! whose wall time is the median. The latency histogram is all repeats' ops added
//! together, so `.hgrm` files and plots show every run's latencies, both modes of a
//! bimodal result included.
//!
//! Speedup: each repeat's throughput over the median throughput of the baseline row
//! (`sequential`, or the twin's `cpython…-sequential`) at the same sweep value. Against
//! the median rather than the matching sequential repeat, so a model's spread is its
//! own, not the sum of its and the baseline's.

use super::{GilReport, RunReport};
use crate::measure::modes;
use crate::measure::stats::{median, median_u64, Spread};
use crate::measure::Summary;
use crate::plan::sweep::SweepPoint;
use crate::workload::CounterOutcome;
use serde::Serialize;

/// The repeat fields of a row (flattened into the RUN object).
#[derive(Debug, Clone, Serialize)]
pub struct RepeatStats {
    /// Measured runs merged into the row.
    pub repeats: usize,
    /// One entry per measured run, in the order they ran.
    pub samples: Vec<Sample>,
    /// How the headline figures varied.
    pub spread: Option<SpreadReport>,
    /// Groups of runs whose latency p50 lie apart (null: one behaviour).
    pub modes: Option<Vec<Mode>>,
    /// The swept value this row was measured at (only with `--sweep`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepPoint>,
}

impl Default for RepeatStats {
    fn default() -> RepeatStats {
        RepeatStats {
            repeats: 1,
            samples: Vec::new(),
            spread: None,
            modes: None,
            sweep: None,
        }
    }
}

/// One measured run's headline figures.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Start line to last worker done, ns.
    pub wall_ns: u64,
    /// Ops per second of wall time.
    pub throughput_ops_per_s: f64,
    /// Throughput over the baseline's median throughput.
    pub speedup: Option<f64>,
    /// Per-op latency.
    pub latency_ns: Summary,
    /// Lost updates, for workloads with a counter.
    pub counter: Option<CounterOutcome>,
    /// This run's scenario-specific fields (`gc`, `refcount`, `variant`, …), so a
    /// lesson can count the runs that showed an effect and `verify` can take its
    /// figures; left out of JSON, where the row has the typical run's.
    #[serde(skip)]
    pub extra: serde_json::Map<String, serde_json::Value>,
    /// Ops of the workers whose latencies are not reported (convoy's CPU-bound
    /// ones), so `verify` can time one of their ops; left out of JSON.
    #[serde(skip)]
    pub background_ops: u64,
}

/// The spread of each headline figure over the samples.
#[derive(Debug, Clone, Serialize)]
pub struct SpreadReport {
    /// Wall time, ns.
    pub wall_ns: Spread<u64>,
    /// Ops per second.
    pub throughput_ops_per_s: Spread<f64>,
    /// Speedup over the baseline (null without one).
    pub speedup: Option<Spread<f64>>,
    /// Latency median, ns.
    pub latency_p50_ns: Spread<u64>,
    /// Latency 99th percentile, ns.
    pub latency_p99_ns: Spread<u64>,
    /// Lost updates (null without a counter).
    pub lost: Option<Spread<u64>>,
}

/// A group of runs with latency medians close together ([`crate::measure::modes`]).
#[derive(Debug, Clone, Serialize)]
pub struct Mode {
    /// How many runs fall in it.
    pub runs: usize,
    /// The median of their latency p50s, ns.
    pub latency_p50_ns: u64,
    /// Their smallest and largest latency p50, ns.
    pub latency_p50_range_ns: [u64; 2],
    /// Which runs (0-based, in the order they ran).
    pub repeats: Vec<usize>,
}

impl Sample {
    fn of(row: &RunReport) -> Sample {
        Sample {
            wall_ns: row.wall_ns,
            throughput_ops_per_s: row.throughput_ops_per_s,
            speedup: row.speedup,
            latency_ns: row.latency_ns,
            counter: row.counter,
            extra: row.extra.clone(),
            background_ops: row.total_ops.saturating_sub(row.ops),
        }
    }

    /// A number among this run's scenario-specific fields, by its dotted key
    /// (`refcount.corrupted`).
    pub fn extra_u64(&self, key: &str) -> Option<u64> {
        let mut parts = key.split('.');
        let mut value = self.extra.get(parts.next()?)?;
        for part in parts {
            value = value.get(part)?;
        }
        value.as_u64()
    }
}

/// Merges the repeats of one row (same model, same variant) into one row. `None` when
/// there are none.
pub fn merge(mut reps: Vec<RunReport>) -> Option<RunReport> {
    if reps.is_empty() {
        return None;
    }
    let samples: Vec<Sample> = reps.iter().map(Sample::of).collect();
    let walls: Vec<u64> = samples.iter().map(|s| s.wall_ns).collect();
    let typical = typical_index(&walls);
    let u = |f: &dyn Fn(&RunReport) -> u64| {
        median_u64(&reps.iter().map(f).collect::<Vec<_>>()).unwrap_or(0)
    };
    let wall_ns = u(&|r| r.wall_ns);
    let throughput = median(
        &samples
            .iter()
            .map(|s| s.throughput_ops_per_s)
            .collect::<Vec<_>>(),
    )
    .unwrap_or(0.0);
    let latency = Summary::median_of(&samples.iter().map(|s| s.latency_ns).collect::<Vec<_>>());
    let (cpu_user, cpu_sys) = (u(&|r| r.cpu_user_ns), u(&|r| r.cpu_sys_ns));
    let (vol, invol) = (
        u(&|r| r.voluntary_ctx_switches),
        u(&|r| r.involuntary_ctx_switches),
    );
    let faults = u(&|r| r.minor_faults);
    let startup = all_some(&reps, |r| r.startup_ns).map(|v| median_u64(&v).unwrap_or(0));
    let cost = all_some(&reps, |r| r.ctx_switch_cost_ns).map(|v| median_u64(&v).unwrap_or(0));
    let counter = all_some(&reps, |r| r.counter).map(|c| CounterOutcome {
        expected: median_u64(&c.iter().map(|c| c.expected).collect::<Vec<_>>()).unwrap_or(0),
        observed: median_u64(&c.iter().map(|c| c.observed).collect::<Vec<_>>()).unwrap_or(0),
        lost: median_u64(&c.iter().map(|c| c.lost).collect::<Vec<_>>()).unwrap_or(0),
    });
    let gil = all_some(&reps, |r| r.gil.as_ref().map(gil_numbers)).map(|g| GilReport {
        acquisitions: median_u64(&g.iter().map(|g| g.0).collect::<Vec<_>>()).unwrap_or(0),
        drop_requests: g
            .iter()
            .map(|g| g.1)
            .collect::<Option<Vec<_>>>()
            .and_then(|v| median_u64(&v)),
        forced_switches: g
            .iter()
            .map(|g| g.2)
            .collect::<Option<Vec<_>>>()
            .and_then(|v| median_u64(&v)),
        hold_fraction: median(&g.iter().map(|g| g.3).collect::<Vec<_>>()).unwrap_or(0.0),
        wait_ns: Summary::median_of(&g.iter().map(|g| g.4).collect::<Vec<_>>()),
    });
    let mut histogram = crate::measure::new_histogram();
    for r in &reps {
        // Both are auto-resizing nanosecond histograms: adding cannot fail.
        let _ = histogram.add(&r.histogram);
    }
    let mut row = reps.swap_remove(typical);
    row.wall_ns = wall_ns;
    row.throughput_ops_per_s = throughput;
    row.latency_ns = latency;
    row.cpu_user_ns = cpu_user;
    row.cpu_sys_ns = cpu_sys;
    row.voluntary_ctx_switches = vol;
    row.involuntary_ctx_switches = invol;
    row.minor_faults = faults;
    row.startup_ns = startup;
    row.ctx_switch_cost_ns = cost;
    row.counter = counter;
    row.gil = gil;
    row.histogram = histogram;
    row.repeat = RepeatStats {
        repeats: samples.len(),
        spread: spread(&samples),
        modes: find_modes(&samples),
        samples,
        sweep: None,
    };
    row.speedup = speedup_median(&row.repeat.samples);
    Some(row)
}

/// Merges each position of a series of repeats: `reps[i][j]` is row `j` (a model, or a
/// variant of one) of repeat `i`. Rows missing from some repeat merge what there is.
pub fn merge_positions(reps: Vec<Vec<RunReport>>) -> Vec<RunReport> {
    let width = reps.iter().map(Vec::len).max().unwrap_or(0);
    let mut columns: Vec<Vec<RunReport>> = (0..width).map(|_| Vec::new()).collect();
    for rep in reps {
        for (j, row) in rep.into_iter().enumerate() {
            columns[j].push(row);
        }
    }
    columns.into_iter().filter_map(merge).collect()
}

/// Sets every sample's speedup (and the row's, and its spread) against the median
/// throughput of its baseline row among `rows`: `sequential` for simulated rows,
/// `cpython…-sequential` for a twin's. Rows without a baseline keep what they had
/// (a twin's own speedups).
pub fn apply_speedups(rows: &mut [RunReport]) {
    let baselines: Vec<Option<f64>> = rows
        .iter()
        .map(|r| {
            let name = baseline_name(&r.model);
            rows.iter()
                .find(|b| b.model == name)
                .map(|b| b.throughput_ops_per_s)
                .filter(|t| *t > 0.0)
        })
        .collect();
    for (row, base) in rows.iter_mut().zip(baselines) {
        let Some(base) = base else { continue };
        for s in &mut row.repeat.samples {
            // A row that ran nothing (a twin's skipped or failed model) has no speedup.
            s.speedup = (s.wall_ns > 0).then(|| s.throughput_ops_per_s / base);
        }
        row.speedup = speedup_median(&row.repeat.samples);
        if let Some(spread) = &mut row.repeat.spread {
            spread.speedup = speedup_spread(&row.repeat.samples);
        }
    }
}

/// `sequential`, or the twin's `cpython…-sequential` for a twin's row.
fn baseline_name(model: &str) -> String {
    match model.split_once('-') {
        Some((prefix, _)) if prefix.starts_with("cpython") => format!("{prefix}-sequential"),
        _ => "sequential".to_string(),
    }
}

fn gil_numbers(g: &GilReport) -> (u64, Option<u64>, Option<u64>, f64, Summary) {
    (
        g.acquisitions,
        g.drop_requests,
        g.forced_switches,
        g.hold_fraction,
        g.wait_ns,
    )
}

/// The values of `f` when every repeat has one.
fn all_some<T>(reps: &[RunReport], f: impl Fn(&RunReport) -> Option<T>) -> Option<Vec<T>> {
    reps.iter().map(f).collect()
}

/// The repeat whose wall time is the median (the lower middle for an even count).
fn typical_index(walls: &[u64]) -> usize {
    let mut order: Vec<usize> = (0..walls.len()).collect();
    order.sort_by_key(|&i| walls[i]);
    order[(order.len() - 1) / 2]
}

fn speedups(samples: &[Sample]) -> Option<Vec<f64>> {
    samples.iter().map(|s| s.speedup).collect()
}

fn speedup_median(samples: &[Sample]) -> Option<f64> {
    median(&speedups(samples)?)
}

fn speedup_spread(samples: &[Sample]) -> Option<Spread<f64>> {
    Spread::of(&speedups(samples)?)
}

fn spread(samples: &[Sample]) -> Option<SpreadReport> {
    let ns = |f: fn(&Sample) -> u64| Spread::of_u64(&samples.iter().map(f).collect::<Vec<_>>());
    Some(SpreadReport {
        wall_ns: ns(|s| s.wall_ns)?,
        throughput_ops_per_s: Spread::of(
            &samples
                .iter()
                .map(|s| s.throughput_ops_per_s)
                .collect::<Vec<_>>(),
        )?,
        speedup: speedup_spread(samples),
        latency_p50_ns: ns(|s| s.latency_ns.p50)?,
        latency_p99_ns: ns(|s| s.latency_ns.p99)?,
        lost: samples
            .iter()
            .map(|s| s.counter.map(|c| c.lost))
            .collect::<Option<Vec<u64>>>()
            .and_then(|v| Spread::of_u64(&v)),
    })
}

/// Groups of runs by latency p50, when they split (and every run has latencies).
fn find_modes(samples: &[Sample]) -> Option<Vec<Mode>> {
    if samples.len() < 2 || samples.iter().any(|s| s.latency_ns.count == 0) {
        return None;
    }
    let p50s: Vec<f64> = samples.iter().map(|s| s.latency_ns.p50 as f64).collect();
    let groups = modes::modes(&p50s)?;
    Some(
        groups
            .into_iter()
            .map(|g| Mode {
                runs: g.repeats.len(),
                latency_p50_ns: g.median.round() as u64,
                latency_p50_range_ns: [g.min as u64, g.max as u64],
                repeats: g.repeats,
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    fn row(model: &str, wall_ns: u64, ops: u64, p50: u64) -> RunReport {
        let mut r = fixture::bare_run(model);
        r.wall_ns = wall_ns;
        r.ops = ops;
        r.throughput_ops_per_s = ops as f64 / (wall_ns as f64 / 1e9);
        r.latency_ns = Summary {
            count: ops,
            min: p50 / 2,
            mean: p50,
            p50,
            p90: p50,
            p99: p50 * 2,
            p999: p50 * 2,
            max: p50 * 3,
        };
        crate::measure::record(&mut r.histogram, p50);
        r
    }

    #[test]
    fn medians_samples_and_spread() {
        let reps = vec![
            row("threads", 300, 30, 10),
            row("threads", 100, 30, 30),
            row("threads", 200, 30, 20),
        ];
        let m = merge(reps).unwrap();
        assert_eq!(m.repeat.repeats, 3);
        assert_eq!(m.repeat.samples.len(), 3);
        assert_eq!(m.repeat.samples[0].wall_ns, 300, "samples in run order");
        assert_eq!(m.wall_ns, 200);
        assert_eq!(m.latency_ns.p50, 20);
        let s = m.repeat.spread.as_ref().unwrap();
        assert_eq!(
            (s.wall_ns.min, s.wall_ns.median, s.wall_ns.max),
            (100, 200, 300)
        );
        assert_eq!(s.latency_p50_ns.median, 20);
        assert!(m.repeat.modes.is_none());
        assert_eq!(m.histogram.len(), 3, "histograms added");
        assert!(merge(Vec::new()).is_none());
    }

    #[test]
    fn bimodal_latencies_become_modes() {
        let p50s = [10_400_000, 19_000, 10_350_000, 21_000, 10_500_000];
        let m = merge(p50s.iter().map(|&p| row("gil", 1000, 10, p)).collect()).unwrap();
        let modes = m.repeat.modes.unwrap();
        assert_eq!(modes.len(), 2);
        assert_eq!((modes[0].runs, modes[0].latency_p50_ns), (2, 20_000));
        assert_eq!(modes[1].runs, 3);
        assert_eq!(modes[1].repeats, vec![0, 2, 4]);
    }

    #[test]
    fn a_row_that_ran_nothing_has_no_speedup() {
        let mut skipped = row("cpython3.11-subinterpreters", 1, 0, 0);
        skipped.wall_ns = 0;
        skipped.throughput_ops_per_s = 0.0;
        let mut rows = merge_positions(vec![vec![
            row("cpython3.11-sequential", 100, 10, 1),
            skipped,
        ]]);
        apply_speedups(&mut rows);
        assert_eq!(rows[1].speedup, None);
        assert!(rows[0].speedup.is_some());
    }

    #[test]
    fn speedups_against_the_baseline_median() {
        let merged = merge_positions(vec![
            vec![row("sequential", 200, 10, 1), row("threads", 100, 10, 1)],
            vec![row("sequential", 100, 10, 1), row("threads", 50, 10, 1)],
            vec![row("sequential", 150, 10, 1), row("threads", 100, 10, 1)],
        ]);
        let mut rows = merged;
        apply_speedups(&mut rows);
        // Sequential median throughput: 10 ops / 150 ns.
        let t = &rows[1];
        let s: Vec<f64> = t
            .repeat
            .samples
            .iter()
            .map(|s| s.speedup.unwrap())
            .collect();
        assert!(
            (s[0] - 1.5).abs() < 1e-9 && (s[1] - 3.0).abs() < 1e-9,
            "{s:?}"
        );
        assert!((t.speedup.unwrap() - 1.5).abs() < 1e-9);
        let sp = t.repeat.spread.as_ref().unwrap().speedup.unwrap();
        assert!((sp.max - 3.0).abs() < 1e-9);
        assert!((rows[0].speedup.unwrap() - 1.0).abs() < 1e-9);
        assert_eq!(
            baseline_name("cpython3.9-gil-legacy"),
            "cpython3.9-sequential"
        );
        assert_eq!(baseline_name("gil-legacy"), "sequential");
    }
}
