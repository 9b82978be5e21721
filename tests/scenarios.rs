//! CLI tests of the refcount, gc-pause, alloc and fork-cow scenarios: their
//! correctness claims, which hold however busy the machine is. Claims that need
//! workers to run at the same time live in `scenarios_timing.rs`.

mod common;

use common::{bad_input, json, run, with};

#[test]
fn refcount_plain_under_gil_never_corrupts() {
    // One object that both workers hammer: the worst case, and still correct.
    let report = json(&[
        "scenario",
        "refcount",
        "--model",
        "gil,gil-legacy",
        "--ops",
        "50000",
        "--set",
        "objects=1",
    ]);
    for model in ["gil", "gil-legacy"] {
        let rc = &run(&report, model)["refcount"];
        assert_eq!(rc["corrupted"], 0, "{model}: {rc}");
        assert_eq!(rc["objects"], 1);
        assert_eq!(rc["references"], 2 * 50_000 * 64);
    }
}

#[test]
fn refcount_atomic_and_biased_never_corrupt() {
    for counting in ["atomic", "biased"] {
        let report = json(&[
            "scenario",
            "refcount",
            "--model",
            "threads",
            "--workers",
            "3",
            "--ops",
            "30000",
            "--set",
            &format!("counting={counting}"),
            "--set",
            "objects=2",
        ]);
        let threads = run(&report, "threads");
        assert_eq!(threads["counting"], counting);
        assert_eq!(threads["refcount"]["corrupted"], 0, "{counting}: {threads}");
    }
}

#[test]
fn refcount_bad_params_exit_2() {
    for set in [
        "counting=sloppy",
        "foreign_ratio=2",
        "objects=0",
        "objects=-3",
    ] {
        bad_input(&["scenario", "refcount", "--set", set], &[]);
    }
}

#[test]
fn gc_pause_bad_input_gets_one_line_and_exit_2() {
    for (set, mentions) in [
        ("threshold0=-1", "threshold0"),
        ("threshold2=-700", "threshold2"),
        ("gc=sometimes", "sometimes"),
        ("objects=100000000000", "memory"),
        ("objects=-5", "objects"),
        ("io_sleep=soon", "io_sleep"),
    ] {
        bad_input(&["scenario", "gc-pause", "--set", set], &[mentions]);
    }
}

#[test]
fn gc_pause_off_frees_no_cycles_and_grows() {
    let report = json(&[
        "scenario",
        "gc-pause",
        "--model",
        "gil",
        "--ops",
        "40",
        "--set",
        "gc=off",
        "--set",
        "objects=20000",
        "--set",
        "collect_every=5ms",
        "--set",
        "garbage=2000",
    ]);
    let gc = &run(&report, "gil")["gc"];
    assert_eq!(gc["freed"], 0, "{gc}");
    assert_eq!(gc["collections"], 0, "{gc}");
    assert_eq!(gc["mode"], "off");
    // Every burst's cycles are still there.
    assert!(gc["heap_objects"].as_u64().unwrap() > 20_000, "{gc}");
}

#[test]
fn gc_pause_collects_cycles_and_reports_its_pauses() {
    let report = json(&[
        "scenario",
        "gc-pause",
        "--model",
        "sequential,gil,threads",
        "--ops",
        "40",
        "--set",
        "objects=20000",
        "--set",
        "collect_every=5ms",
        "--set",
        "garbage=2000",
    ]);
    for model in ["gil", "threads"] {
        let gc = &run(&report, model)["gc"];
        assert!(gc["freed"].as_u64().unwrap() >= 2000, "{model}: {gc}");
        assert!(gc["collections"].as_u64().unwrap() >= 1, "{model}: {gc}");
        assert_eq!(gc["pause_ns"]["count"], gc["collections"], "{model}: {gc}");
        assert_eq!(gc["heap_objects"], 20_000, "{model}: only the cycles went");
    }
    // The baseline is the I/O worker alone: no heap, no collector.
    assert_eq!(run(&report, "sequential")["gc"]["collections"], 0);
    assert_eq!(run(&report, "sequential")["ops"], 40);
}

/// The run of one fork-cow variant.
fn variant<'a>(report: &'a serde_json::Value, model: &str, variant: &str) -> &'a serde_json::Value {
    report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == model && r["variant"] == variant)
        .unwrap_or_else(|| panic!("no {model} {variant} in {report}"))
}

#[test]
fn fork_cow_reads_that_write_copy_the_heap() {
    let report = json(&["scenario", "fork-cow", "--set", "heap_mib=64"]);
    let heap = 64u64 << 20;
    let pages = heap / 4096;
    let get = |m: &str, v: &str, field: &str| variant(&report, m, v)[field].as_u64().unwrap();
    // Writing copies every page; reading copies none.
    let (write, read) = (
        get("processes", "write", "minor_faults"),
        get("processes", "read", "minor_faults"),
    );
    assert!(
        write >= pages * 9 / 10,
        "write: {write} faults for {pages} pages"
    );
    assert!(
        write >= 20 * read.max(1),
        "write {write} vs read {read} faults"
    );
    // Reads through reference counts, and a collection in the child, dirty most of
    // the heap; plain reads, immortal objects and a frozen heap almost none.
    for v in ["read-refcounted", "write", "gc-in-child", "deep-copy"] {
        let dirty = get("processes", v, "private_dirty_bytes");
        assert!(dirty >= heap * 3 / 4, "{v}: {dirty} of {heap} bytes dirty");
    }
    for v in ["read", "read-immortal", "gc-in-child-frozen"] {
        let dirty = get("processes", v, "private_dirty_bytes");
        assert!(dirty <= heap / 20, "{v}: {dirty} of {heap} bytes dirty");
    }
    // Threads share the heap: nothing is copied, whatever they do.
    for v in ["read", "read-refcounted", "write"] {
        let dirty = get("threads", v, "private_dirty_bytes");
        assert!(dirty <= heap / 20, "threads {v}: {dirty} bytes dirty");
        assert!(variant(&report, "threads", v)["startup_ns"].is_u64());
    }
    // A child's wall and CPU time cover the same span, its work: one thread's CPU
    // time within it cannot exceed it (a little slack for getrusage's µs
    // truncation). Not a timing comparison: it holds however busy the machine is.
    for v in [
        "read",
        "read-refcounted",
        "read-immortal",
        "write",
        "gc-in-child",
        "gc-in-child-frozen",
        "deep-copy",
    ] {
        let (wall, cpu) = (
            get("processes", v, "wall_ns"),
            get("processes", v, "cpu_user_ns") + get("processes", v, "cpu_sys_ns"),
        );
        assert!(
            cpu <= wall + 200_000,
            "{v}: {cpu} ns of CPU in {wall} ns of wall"
        );
    }
    assert_eq!(report["runs"].as_array().unwrap().len(), 4 + 7);
}

#[test]
fn fork_cow_bad_input_exit_2() {
    for args in [
        &["--set", "heap_mib=0"][..],
        &["--set", "heap_mib=1000000"],
        &["--set", "variant=read,peek"],
        &["--model", "gil"],
    ] {
        bad_input(&with(&["scenario", "fork-cow"], args), &[]);
    }
}

#[test]
fn alloc_pools_keep_freed_memory_and_return_empty_arenas() {
    let args = |keep: &str| {
        json(&[
            "scenario",
            "alloc",
            "--model",
            "gil,threads",
            "--ops",
            "10",
            "--set",
            "batch=100000",
            "--set",
            &format!("keep_every={keep}"),
        ])
    };
    let fragmented = args("16");
    for model in ["gil", "threads"] {
        let a = &run(&fragmented, model)["alloc"];
        let get = |f: &str| a[f].as_u64().unwrap();
        assert_eq!(get("allocations"), 2 * 10 * 100_000, "{model}: {a}");
        // One survivor in 16 keeps (nearly) every arena: held stays near its peak
        // while what is live falls to a sixteenth.
        assert!(
            get("retained_held_bytes") * 10 >= get("peak_held_bytes") * 7,
            "{model}: {a}"
        );
        assert!(
            get("retained_live_bytes") * 8 <= get("peak_live_bytes"),
            "{model}: {a}"
        );
        assert!(
            get("peak_held_bytes") >= get("peak_live_bytes") / 2,
            "{model}: {a}"
        );
    }
    assert_eq!(run(&fragmented, "gil")["alloc"]["pools"], "global");
    assert_eq!(run(&fragmented, "threads")["alloc"]["pools"], "per-thread");
    // Free everything and each worker's own pools give their arenas back.
    let drained = args("0");
    let a = &run(&drained, "threads")["alloc"];
    assert_eq!(a["retained_held_bytes"], 0, "{a}");
    assert_eq!(a["arenas_freed"], a["arenas_allocated"], "{a}");
}

/// Under a GIL the process's one pool set is protected by the GIL, as pymalloc's are
/// in CPython: locked about once per GIL hold, never per malloc and free (whose
/// locked instructions would make the GIL models pay twice sequential's CPU time
/// for the same allocations, which CPython's threads do not). Without a GIL, one
/// set shared by threads needs its own lock at every use; `sequential`'s one thread
/// holds it across an op. Counts, not timings: holds at any load.
#[test]
fn alloc_under_a_gil_the_gil_is_the_pools_lock() {
    let report = |model: &str, pools: &str| {
        json(&[
            "scenario",
            "alloc",
            "--model",
            model,
            "--ops",
            "4",
            "--set",
            "batch=20000",
            "--set",
            &format!("pools={pools}"),
        ])
    };
    let gils = report("sequential,gil,gil-3.9,gil-legacy", "auto");
    for model in ["gil", "gil-3.9", "gil-legacy"] {
        let a = &run(&gils, model)["alloc"];
        let (allocations, locks) = (
            a["allocations"].as_u64().unwrap(),
            a["pool_locks"].as_u64().unwrap(),
        );
        assert_eq!(a["pools"], "global", "{model}: {a}");
        // At least once per op; Python 2's lock is re-taken every 100 ticks (a
        // few dozen allocations), the others' at most every switch interval.
        assert!(locks >= 2 * 4, "{model}: {a}");
        assert!(locks * 10 <= allocations, "{model}: locked per call: {a}");
    }
    assert_eq!(run(&gils, "sequential")["alloc"]["pool_locks"], 0);
    let free = report("sequential", "global");
    // One thread, one worker at a time: held across each op, as under a GIL.
    let a = &run(&free, "sequential")["alloc"];
    assert!(
        a["pool_locks"].as_u64().unwrap() * 10 <= a["allocations"].as_u64().unwrap(),
        "sequential, alone with the set: {a}"
    );
    // Free threads sharing the set: timed by a duration, so both workers are alive
    // for all of it (with a few ops, one could finish, and drop its hold on the
    // set, before the other's first op, which then rightly finds itself alone).
    let threads = json(&[
        "scenario",
        "alloc",
        "--model",
        "threads",
        "--duration",
        "400ms",
        "--set",
        "batch=20000",
        "--set",
        "pools=global",
    ]);
    let a = &run(&threads, "threads")["alloc"];
    assert!(
        a["pool_locks"].as_u64().unwrap() > a["allocations"].as_u64().unwrap(),
        "no GIL: a lock per malloc and free: {a}"
    );
}

#[test]
fn alloc_system_allocator_and_bad_params() {
    let report = json(&[
        "scenario",
        "alloc",
        "--model",
        "threads",
        "--ops",
        "5",
        "--set",
        "allocator=system",
        "--set",
        "size=mixed",
    ]);
    let a = &run(&report, "threads")["alloc"];
    assert_eq!(a["allocator"], "system");
    assert!(a["peak_live_bytes"].as_u64().unwrap() > 0, "{a}");
    for set in [
        "allocator=jemalloc",
        "size=0",
        "size=huge",
        "batch=0",
        "keep_every=-1",
    ] {
        bad_input(&["scenario", "alloc", "--set", set], &[]);
    }
}
