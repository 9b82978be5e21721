//! What the shared counter shows at any load: the new GIL's `counter += 1` never
//! loses an update (CPython 3.10+ checks for a switch only at calls and backward
//! jumps), and a lock or an atomic never loses one under any model. Whether racing
//! increments *do* lose needs the workers to overlap, which a busy machine may not
//! allow: that is in the opt-in fidelity suite (tests/fidelity.rs).

mod common;

use common::{json, run};

fn lost(sync: &str, models: &str) -> serde_json::Value {
    json(&[
        "scenario",
        "shared-counter",
        "--model",
        models,
        "--set",
        &format!("sync={sync}"),
    ])
}

#[test]
fn counter_plus_equals_loses_nothing_under_the_new_gil() {
    let report = lost("none", "gil");
    assert_eq!(
        run(&report, "gil")["counter"]["lost"],
        0,
        "CPython 3.10+: += loses nothing"
    );
}

#[test]
fn counter_with_a_lock_or_an_atomic_never_loses() {
    for sync in ["lock", "atomic"] {
        let report = lost(sync, "sequential,gil,gil-legacy,threads");
        for r in report["runs"].as_array().unwrap() {
            assert_eq!(r["counter"]["lost"], 0, "{sync} under {}", r["model"]);
        }
    }
}

#[test]
fn increments_are_timed_one_in_sample_every_as_the_twin_does() {
    // An increment is a few bytecodes, about what a clock read costs: timing each
    // would make the harness most of every op and move the GIL's switches between
    // ops. The histogram holds one sample per `sample_every` increments.
    for (every, samples) in [("64", 2 * 6400 / 64), ("1", 2 * 6400)] {
        let report = json(&[
            "scenario",
            "shared-counter",
            "--model",
            "gil",
            "--ops",
            "6400",
            "--set",
            &format!("sample_every={every}"),
        ]);
        let gil = run(&report, "gil");
        assert_eq!(gil["total_ops"], 12800);
        assert_eq!(
            gil["samples"][0]["latency_ns"]["count"], samples,
            "sample_every={every}"
        );
    }
}

#[test]
fn sample_every_below_one_is_refused() {
    common::bad_input(
        &["scenario", "shared-counter", "--set", "sample_every=0"],
        &["sample_every"],
    );
}
