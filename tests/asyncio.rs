//! The `asyncio` model through the binary: one event loop, coroutines that give it
//! back only at their awaits. Each test asserts the mechanism (what went through
//! the loop, what was lost), never a timing that a busy machine could upset.

mod common;

use common::{bad_input, json, output, run, stderr, with};

/// The loop's own counters in a run.
fn loop_stat(run: &serde_json::Value, key: &str) -> u64 {
    run["event_loop"][key]
        .as_u64()
        .unwrap_or_else(|| panic!("no event_loop.{key} in {run}"))
}

#[test]
fn io_bound_sleeps_are_timers_that_overlap() {
    let report = json(&[
        "scenario",
        "io-bound",
        "--model",
        "asyncio",
        "--workers",
        "4",
        "--ops",
        "20",
    ]);
    let a = run(&report, "asyncio");
    // Every `await asyncio.sleep(io_wait)` went through the timer heap.
    assert_eq!(loop_stat(a, "timers"), 80, "{a}");
    assert_eq!(a["ops"], 80);
    assert!(a["gil"].is_null(), "one thread, no GIL to share: {a}");
    // The four coroutines' sleeps overlap: the run is shorter than its sleeps.
    let slept = 80 * 1_000_000u64;
    assert!(a["wall_ns"].as_u64().unwrap() < slept, "{a}");
    // Every callback's lag is recorded.
    assert_eq!(
        a["loop_lag_ns"]["count"], a["event_loop"]["callbacks"],
        "{a}"
    );
}

#[test]
fn a_cpu_bound_coroutine_never_gives_the_loop_back() {
    let report = json(&[
        "scenario",
        "cpu-bound",
        "--model",
        "asyncio",
        "--ops",
        "3",
        "--set",
        "ticks_per_op=200000",
    ]);
    let a = run(&report, "asyncio");
    // Two coroutines, one callback each: the first ran all its ops before the
    // second started, so the second's lag is the first's whole run.
    assert_eq!(loop_stat(a, "callbacks"), 2, "{a}");
    let lag_max = a["loop_lag_ns"]["max"].as_u64().unwrap();
    let op_min = a["latency_ns"]["min"].as_u64().unwrap();
    assert!(
        lag_max >= 3 * op_min,
        "lag {lag_max} < 3 ops of {op_min}: {a}"
    );
}

#[test]
fn convoy_round_trips_wait_out_the_hogs_ops() {
    // One CPU op alone, measured in the same test.
    let op = json(&[
        "scenario",
        "cpu-bound",
        "--model",
        "sequential",
        "--workers",
        "1",
        "--ops",
        "20",
        "--set",
        "ticks_per_op=20000",
    ]);
    let op_p50 = run(&op, "sequential")["latency_ns"]["p50"]
        .as_u64()
        .unwrap();
    let report = json(&["scenario", "convoy", "--model", "asyncio", "--ops", "30"]);
    let a = run(&report, "asyncio");
    // Every reply came in through the selector's reader callback...
    assert_eq!(loop_stat(a, "readers"), 30, "{a}");
    // ...behind a hog's op: a round trip lasts at least about one op.
    let p50 = a["latency_ns"]["p50"].as_u64().unwrap();
    assert!(
        p50 * 2 >= op_p50,
        "round trip p50 {p50} ns, an op alone {op_p50} ns: {a}"
    );
    assert!(a["loop_lag_ns"]["p99"].as_u64().unwrap() > 0, "{a}");
}

#[test]
fn only_an_await_between_read_and_write_loses_updates() {
    let counter = |sync: &str, models: &str| {
        let arg = format!("sync={sync}");
        json(&[
            "scenario",
            "shared-counter",
            "--model",
            models,
            "--ops",
            "20000",
            "--set",
            &arg,
        ])
    };
    for sync in ["none", "none-call", "lock", "atomic"] {
        let report = counter(sync, "asyncio");
        let a = run(&report, "asyncio");
        assert_eq!(a["counter"]["lost"], 0, "{sync}: {a}");
        assert_eq!(a["counter"]["expected"], 40000, "{sync}: {a}");
    }
    let report = counter("none-await", "sequential,gil,asyncio");
    let a = run(&report, "asyncio");
    assert!(a["counter"]["lost"].as_u64().unwrap() > 0, "{a}");
    // Each await hands the loop to the other coroutine, which read the same value.
    assert!(loop_stat(a, "callbacks") >= 40000, "{a}");
    // time.sleep(0) releases the GIL between the read and the write: the other
    // thread, waiting for it, takes it there.
    let gil = run(&report, "gil");
    assert!(gil["counter"]["lost"].as_u64().unwrap() > 0, "{gil}");
    // Alone, nobody can interleave.
    assert_eq!(run(&report, "sequential")["counter"]["lost"], 0);
}

#[test]
fn asyncio_is_refused_where_nothing_awaits_and_its_timeout_holds() {
    for scenario in ["fork-cow", "alloc", "refcount", "gc-pause"] {
        bad_input(
            &["scenario", scenario, "--model", "asyncio"],
            &["`asyncio` does not fit scenario", scenario, "runs under"],
        );
    }
    let out = output(&[
        "scenario",
        "cpu-bound",
        "--model",
        "asyncio",
        "--ops",
        "1000000",
        "--timeout",
        "300ms",
        "--runs",
        "1",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("asyncio: timed out"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_coroutine_hand_off_is_no_os_switch() {
    let report = json(&[
        "ctxswitch",
        "--mode",
        "asyncio-handoff",
        "--rounds",
        "5000",
        "--warmup",
        "100",
    ]);
    let rows = report["results"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "one thread: one placement: {report}");
    let r = &rows[0];
    assert_eq!(r["sides"], "coroutines");
    assert_eq!(r["switch_ns"]["count"], 5000);
    // Whatever preempts the one thread now and then, a hand-off itself never
    // enters the kernel.
    let switches = r["voluntary_ctx_switches"].as_u64().unwrap()
        + r["involuntary_ctx_switches"].as_u64().unwrap();
    assert!(switches < 500, "{r}");
    assert_eq!(r["voluntary_ctx_switches"], 0, "{r}");
}

/// The twin's asyncio row beside the simulation's: the same race, the same loss.
#[test]
fn the_asyncio_twin_loses_what_the_simulation_loses() {
    if !common::python3_is_3_7_or_later() {
        return;
    }
    let report = json(&[
        "scenario",
        "shared-counter",
        "--model",
        "asyncio",
        "--set",
        "sync=none-await",
        "--ops",
        "2000",
        "--cpython",
    ]);
    for model in ["asyncio", "cpython-asyncio"] {
        let r = run(&report, model);
        // Two coroutines alternating at the await: every other increment is lost.
        assert_eq!(r["counter"]["expected"], 4000, "{r}");
        assert_eq!(r["counter"]["lost"], 2000, "{model}: {r}");
        // Loop lag, measured the same way on both sides: one figure per callback,
        // at least one per await.
        let callbacks = r["loop_lag_ns"]["count"].as_u64().unwrap_or(0);
        assert!(callbacks >= 4000, "{model}: {r}");
    }
}

/// A `--duration` ends the run: the sleeping coroutines finish at their next
/// wake-up, and the loop sleeps until then rather than spin.
#[test]
fn a_duration_ends_the_loop_without_spinning() {
    let report = json(&[
        "scenario",
        "io-bound",
        "--model",
        "asyncio",
        "--duration",
        "100ms",
    ]);
    let a = run(&report, "asyncio");
    let (rounds, timers) = (loop_stat(a, "iterations"), loop_stat(a, "timers"));
    assert!(timers > 0, "{a}");
    // Four timers share a round when they fire together; never many rounds each.
    assert!(
        rounds <= 2 * timers + 10,
        "{rounds} rounds for {timers} timers: {a}"
    );
}

/// 2,000 items through an `asyncio.Queue(maxsize=16)`, one producer.
const BOUNDED_QUEUE: &[&str] = &[
    "scenario",
    "queue",
    "--model",
    "asyncio",
    "--ops",
    "2000",
    "--set",
    "maxsize=16",
    "--set",
    "producers=1",
];

/// `queue` under asyncio: an `asyncio.Queue` whose full (empty) state parks the
/// producer (consumer) on a future the other side completes.
#[test]
fn queue_sides_park_on_futures_only_when_full_or_empty() {
    let bounded = json(BOUNDED_QUEUE);
    let a = run(&bounded, "asyncio");
    assert_eq!(a["ops"], 2000, "{a}");
    assert_eq!(
        a["latency_ns"]["count"], 2000,
        "every item timed put→get: {a}"
    );
    assert_eq!(a["items_left"], 0, "{a}");
    // Every park is woken by the other side: one callback each, nothing else.
    let futures = loop_stat(a, "futures");
    assert!(futures > 0, "{a}");
    assert_eq!(loop_stat(a, "callbacks"), 2 + futures, "{a}");
    assert_eq!(
        a["loop_lag_ns"]["count"], a["event_loop"]["callbacks"],
        "{a}"
    );
    let unbounded = json(&["scenario", "queue", "--model", "asyncio", "--ops", "2000"]);
    let a = run(&unbounded, "asyncio");
    // A put into a queue with room never gives the loop back.
    assert_eq!(loop_stat(a, "futures"), 0, "{a}");
    assert_eq!(loop_stat(a, "callbacks"), 2, "{a}");
}

/// The twin's `cpython-asyncio` queue row: the same items through an
/// `asyncio.Queue`, enqueue-to-dequeue timed.
#[test]
fn the_queue_twin_has_an_asyncio_row() {
    if !common::python3_is_3_7_or_later() {
        return;
    }
    let report = json(&with(BOUNDED_QUEUE, &["--cpython"]));
    let twin = run(&report, "cpython-asyncio");
    assert_eq!(twin["ops"], 2000, "{twin}");
    assert_eq!(twin["latency_ns"]["count"], 2000, "{twin}");
}
