//! What a repeat costs beyond the model's own work (`--runs`, `--warmup`).
//!
//! Each repeat of a model is a fresh call of the model; between two calls the repeat
//! loop reads the clock (to size the default run count), samples the machine's load
//! (`/proc/loadavg`, `/proc/stat`), turns the run into a report row, and at the end
//! merges the rows (medians, spread, modes, the added histograms). None of that is
//! inside a measured region; this bench shows it is small next to a run:
//!
//! - `loop alone`: one pass of the repeat loop around a model that does nothing —
//!   the clock reads and the load sample;
//! - `model alone ×5`: five calls of the smallest real run (`cpu-bound`, one
//!   `sequential` worker, one op of 1,000 ticks), as `gilbench scenario` makes them;
//! - `through the repeat loop, 5 runs`: the same five runs through `--runs 5`'s
//!   loop, rows made and merged. Its time less `model alone ×5`, divided by 5, is
//!   the harness's cost per repeat.
//!
//! Run alone: `cargo bench --bench repeats`.

use clap::Parser;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use gilbench::app::progress::Progress;
use gilbench::app::repeat::{repeat, run_model};
use gilbench::cli::{Cli, Command};
use gilbench::measure::load::Monitor;
use gilbench::plan::{ModelKind, Plan, Repeats};
use std::hint::black_box;
use std::time::Duration;

/// The smallest real run: one sequential worker, one op.
fn tiny_plan(runs: u32) -> Plan {
    let cli = Cli::parse_from([
        "gilbench",
        "scenario",
        "cpu-bound",
        "--model",
        "sequential",
        "--workers",
        "1",
        "--ops",
        "1",
        "--set",
        "ticks_per_op=1000",
        "--quiet",
        "--no-calibrate",
    ]);
    let Command::Scenario(args) = cli.command else {
        unreachable!("a scenario command")
    };
    let mut plan = Plan::from_args(&args).expect("a valid plan");
    plan.repeats = Repeats {
        runs: Some(runs),
        warmup: 0,
    };
    plan
}

fn repeats(c: &mut Criterion) {
    let mut group = c.benchmark_group("repeat");
    group.measurement_time(Duration::from_secs(3));
    let once = Repeats {
        runs: Some(1),
        warmup: 0,
    };
    group.bench_function("loop alone (no model)", |b| {
        b.iter_batched(
            Monitor::default,
            |mut monitor| {
                repeat(once, &mut monitor, |_| {}, || Ok::<_, ()>(black_box(0u8)))
                    .expect("no error");
                monitor
            },
            BatchSize::SmallInput,
        )
    });

    let plan = tiny_plan(5);
    group.bench_function("model alone x5", |b| {
        b.iter(|| {
            for _ in 0..5 {
                let runs = gilbench::app::scenario::run_model(&plan, ModelKind::Sequential)
                    .expect("the run works");
                black_box(runs);
            }
        })
    });
    let progress = Progress::new(5, true);
    group.bench_function("through the repeat loop, 5 runs", |b| {
        b.iter_batched(
            Monitor::default,
            |mut monitor| {
                let rows = run_model(&plan, ModelKind::Sequential, &progress, "", &mut monitor)
                    .expect("the run works");
                black_box(rows);
                monitor
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(benches, repeats);
criterion_main!(benches);
