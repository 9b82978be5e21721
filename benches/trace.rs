//! What tracing costs, and proof that it does not change the figures.
//!
//! - `trace/record …`: recording one event into a worker's buffer (target ≤ 20 ns),
//!   with the timestamps given, with the clock read a hook adds, with tracing off
//!   (one branch), and past `--trace-limit` (one counter).
//! - `trace/allow_threads …`: a GIL release and re-take around an empty blocking
//!   call, the hook-heaviest path, with tracing off and on.
//! - `trace/run …`: whole model runs with and without tracing. These time the
//!   *reported* wall time of each run (`iter_custom`), so criterion compares the
//!   figures a user would see; they must agree within the noise. Because load
//!   drifts between criterion's measurements, `trace/interleaved …` lines (printed
//!   first) also compare alternating runs, pair by pair.
//!
//! Run alone: `cargo bench --bench trace`. Figures depend on nothing else running.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use gilbench::cli::{Cli, Command};
use gilbench::plan::{ModelKind, Plan};
use gilbench::runtime::gil::Gil;
use gilbench::runtime::interp::{Interp, Lock};
use gilbench::runtime::trace::{EventKind, TraceBuf};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Events recorded per batch: enough to amortise the batch, few enough to stay in
/// cache like a worker's recent events do.
const BATCH: u64 = 4096;

fn record(c: &mut Criterion) {
    let mut group = c.benchmark_group("trace");
    group.throughput(Throughput::Elements(BATCH));
    let epoch = Instant::now();
    let (start, end) = (Instant::now(), Instant::now() + Duration::from_micros(3));
    let fresh = || TraceBuf::new(epoch, BATCH as usize);
    group.bench_function("record span, timestamps given (per element)", |b| {
        b.iter_batched_ref(
            fresh,
            |buf| {
                for _ in 0..BATCH {
                    buf.span(
                        black_box(EventKind::GilHeld),
                        black_box(start),
                        black_box(end),
                    );
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("record instant, timestamp given (per element)", |b| {
        b.iter_batched_ref(
            fresh,
            |buf| {
                for _ in 0..BATCH {
                    buf.instant(black_box(EventKind::DropRequest), black_box(start));
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("clock read + record span (per element)", |b| {
        b.iter_batched_ref(
            fresh,
            |buf| {
                for _ in 0..BATCH {
                    let now = Instant::now();
                    buf.span(black_box(EventKind::GilHeld), black_box(start), now);
                }
            },
            BatchSize::LargeInput,
        )
    });
    group.bench_function("record with tracing off (per element)", |b| {
        let mut off = TraceBuf::disabled();
        b.iter(|| {
            for _ in 0..BATCH {
                off.span(
                    black_box(EventKind::GilHeld),
                    black_box(start),
                    black_box(end),
                );
            }
        })
    });
    group.bench_function("record past the limit (per element)", |b| {
        let mut full = TraceBuf::new(epoch, 1);
        full.instant(EventKind::DropRequest, start);
        b.iter(|| {
            for _ in 0..BATCH {
                full.span(
                    black_box(EventKind::GilHeld),
                    black_box(start),
                    black_box(end),
                );
            }
        })
    });
    group.finish();
}

fn hooks(c: &mut Criterion) {
    const CALLS: u64 = 1000;
    let mut group = c.benchmark_group("trace");
    group.throughput(Throughput::Elements(CALLS));
    let gil = Gil::new(Duration::from_millis(5));
    let epoch = Instant::now();
    for (name, tracing) in [("off", false), ("on", true)] {
        group.bench_function(
            format!("allow_threads under gil, tracing {name} (per element)"),
            |b| {
                b.iter_batched(
                    || {
                        // Room for every event of the batch: a held and a blocked span
                        // per call.
                        if tracing {
                            TraceBuf::new(epoch, 2 * CALLS as usize + 4)
                        } else {
                            TraceBuf::disabled()
                        }
                    },
                    |trace| {
                        let mut interp = Interp::new(0, Lock::Gil(&gil), trace);
                        interp.enter();
                        for _ in 0..CALLS {
                            interp.allow_threads(|| black_box(()));
                        }
                        interp.exit();
                        interp.into_parts()
                    },
                    BatchSize::LargeInput,
                )
            },
        );
    }
    group.finish();
}

fn plan(args: &[&str]) -> Plan {
    let cli =
        <Cli as clap::Parser>::try_parse_from(["gilbench", "scenario"].iter().chain(args).copied())
            .expect("bench flags parse");
    let Command::Scenario(scenario) = cli.command else {
        unreachable!("a scenario command")
    };
    Plan::from_args(&scenario).expect("bench plan is valid")
}

/// Median and interquartile range of `values`.
fn quartiles(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.25), at(0.5), at(0.75))
}

/// Criterion measures the two variants one after the other, and on a shared
/// machine the load drifts by more than tracing costs. Alternating the runs puts
/// each pair under the same load; the medians of the reported figures (wall time
/// and p50 op latency) are then compared directly.
fn interleaved(name: &str, model: ModelKind, untraced: &Plan, traced: &Plan) {
    const PAIRS: usize = 15;
    let mut figures = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    for _ in 0..PAIRS {
        for (variant, plan) in [untraced, traced].into_iter().enumerate() {
            let run = gilbench::model::run(plan, model).expect("bench run");
            figures[variant][0].push(run.wall.as_secs_f64() * 1e3);
            figures[variant][1].push(run.latency.value_at_quantile(0.5) as f64 / 1e3);
        }
    }
    for (f, (what, unit)) in [("wall", "ms"), ("p50 op latency", "µs")]
        .into_iter()
        .enumerate()
    {
        let (a0, a, a1) = quartiles(&mut figures[0][f]);
        let (b0, b, b1) = quartiles(&mut figures[1][f]);
        println!(
            "trace/interleaved {name}, {what}: without {a:.2} {unit} (IQR {a0:.2}–{a1:.2}), \
             with {b:.2} {unit} (IQR {b0:.2}–{b1:.2}), ratio {:.3} over {PAIRS} pairs",
            b / a
        );
    }
}

fn runs(c: &mut Criterion) {
    let mut group = c.benchmark_group("trace");
    group.sample_size(20);
    let cases: [(&str, ModelKind, &[&str]); 2] = [
        (
            "cpu-bound under gil",
            ModelKind::Gil,
            &["cpu-bound", "--ops", "10"],
        ),
        // Python 2's lock is released every 100 ticks: the most events per second.
        (
            "cpu-bound under gil-legacy",
            ModelKind::GilLegacy,
            &["cpu-bound", "--ops", "10"],
        ),
    ];
    for (name, model, args) in cases {
        let untraced = plan(args);
        let traced = plan(&[args, &["--timeline"]].concat());
        interleaved(name, model, &untraced, &traced);
        for (label, plan) in [("without trace", &untraced), ("with trace", &traced)] {
            group.bench_function(format!("run {name}, {label} (reported wall)"), |b| {
                b.iter_custom(|iterations| {
                    (0..iterations)
                        .map(|_| {
                            let run = gilbench::model::run(plan, model).expect("bench run");
                            assert_eq!(run.traces.is_empty(), !plan.trace.enabled);
                            run.wall
                        })
                        .sum()
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, record, hooks, runs);
criterion_main!(benches);
