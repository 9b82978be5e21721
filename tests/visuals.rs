//! What users see beyond the table: CSV and Markdown, `--plot`, `--hgrm`,
//! `--cpython`, colour, the progress bar and `gilbench tour` — through the binary.
//!
//! The runs here are small; tests that run real work hold `common::exclusive()` so they do not
//! share the two CPUs with each other.

mod common;

use common::{gilbench, json, ok, output, stderr, stdout, with, SMALL_CPU};

#[test]
fn csv_has_a_header_and_a_row_per_model() {
    let _exclusive = common::exclusive();
    let a = with(SMALL_CPU, &["--format", "csv", "--quiet"]);
    let out = ok(&a);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    for field in [
        "scenario",
        "model",
        "wall_ns",
        "speedup",
        "latency_ns.p50",
        "latency_ns.p999",
    ] {
        assert!(header.contains(&field), "{field} not in {header:?}");
    }
    assert_eq!(lines.len(), 6, "header + five models:\n{text}");
    assert!(lines[1].starts_with("cpu-bound,sequential,"), "{text}");
    // Every row has as many fields as the header (no field holds a comma here).
    for line in &lines[1..] {
        assert_eq!(line.split(',').count(), header.len(), "{line}");
    }
}

#[test]
fn markdown_is_a_table_with_units_and_the_explanation() {
    let _exclusive = common::exclusive();
    let a = with(
        SMALL_CPU,
        &[
            "--format",
            "markdown",
            "--quiet",
            "--model",
            "sequential,gil",
        ],
    );
    let text = stdout(&ok(&a));
    assert!(text.starts_with("### gilbench "), "{text}");
    // cpu-bound's headline (speedup, ops/s) right after the row's identity.
    assert!(
        text.contains("| model | workers | ops | speedup | throughput ops per s | wall |"),
        "{text}"
    );
    assert!(text.contains("| sequential | 2 | 6 |"), "{text}");
    assert!(text.contains("1.00x"), "{text}");
    assert!(
        text.contains("the GIL runs"),
        "the explanation follows:\n{text}"
    );
}

#[test]
fn probes_speak_csv_and_markdown_too() {
    let _exclusive = common::exclusive();
    let commands: [&[&str]; 3] = [
        &[
            "ctxswitch",
            "--mode",
            "thread-futex",
            "--pin",
            "same",
            "--rounds",
            "200",
        ],
        &[
            "spawn",
            "--method",
            "thread",
            "--heap",
            "0",
            "--iterations",
            "5",
        ],
        &["zombie", "--children", "2"],
    ];
    for command in commands {
        let kind = command[0];
        let mut csv_args = command.to_vec();
        csv_args.extend(["--format", "csv", "--quiet"]);
        let csv = stdout(&ok(&csv_args));
        let lines: Vec<&str> = csv.lines().collect();
        assert!(lines.len() >= 2, "{kind}: {csv}");
        assert!(lines[1].contains(kind), "{kind}: the kind column: {csv}");
        let mut md_args = command.to_vec();
        md_args.extend(["--format", "markdown", "--quiet"]);
        let md = stdout(&ok(&md_args));
        assert!(md.starts_with("### gilbench "), "{md}");
        assert!(
            md.contains(&format!("· {kind} ·")) && md.contains("| --- |"),
            "{md}"
        );
    }
}

#[test]
fn csv_and_markdown_leave_out_columns_empty_in_every_row_and_lead_with_the_headline() {
    let args = [
        "scenario",
        "queue",
        "--ops",
        "2000",
        "--model",
        "gil,threads",
        "--runs",
        "1",
        "--no-calibrate",
        "--quiet",
    ];
    let csv = stdout(&ok(&with(&args, &["--format", "csv"])));
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    // No sequential baseline, no counter, one run: nothing to fill these with.
    for empty in [
        "speedup",
        "counter",
        "modes",
        "spread.speedup",
        "spread.lost",
    ] {
        assert!(!header.contains(&empty), "{empty} in {header:?}");
    }
    // Queue's headline (items/s, put-to-get p50) right after the row's identity.
    let at = |key: &str| header.iter().position(|k| *k == key).unwrap();
    assert!(at("throughput_ops_per_s") < at("wall_ns"), "{header:?}");
    assert!(at("latency_ns.p50") < at("cpu_user_ns"), "{header:?}");
    let md = stdout(&ok(&with(&args, &["--format", "markdown"])));
    let md_header = md.lines().find(|l| l.starts_with("| model")).unwrap();
    assert!(!md_header.contains("speedup") && !md_header.contains("counter"));
}

#[test]
fn bad_output_paths_fail_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let missing = dir.path().join("no/such/dir/plot.svg");
    let not_svg = dir.path().join("plot.png");
    let in_file = file.join("hgrm");
    for (flag, path, needle) in [
        ("--plot", &not_svg, "only SVG"),
        ("--plot", &missing, "does not exist"),
        ("--hgrm", &file, ""),
        ("--hgrm", &in_file, ""),
    ] {
        let started = std::time::Instant::now();
        // A scenario that would take minutes if it ran.
        let out = output(&[
            "scenario",
            "cpu-bound",
            "--ops",
            "100000",
            flag,
            path.to_str().unwrap(),
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag} {path:?}: {err}");
        assert!(err.contains(flag) && err.contains(needle), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(started.elapsed().as_secs() < 10, "it measured first");
    }
}

#[test]
fn plot_is_valid_svg_with_a_series_per_model() {
    let _exclusive = common::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cpu.svg");
    let a = with(SMALL_CPU, &["--plot", path.to_str().unwrap()]);
    let report = json(&a);
    let svg = std::fs::read_to_string(&path).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    let runs = report["runs"].as_array().unwrap();
    // Each model: a legend entry, and polylines in its own colour (line + legend).
    let mut strokes = std::collections::BTreeMap::new();
    for node in doc.descendants().filter(|n| n.has_tag_name("polyline")) {
        if let Some(stroke) = node.attribute("stroke") {
            *strokes.entry(stroke.to_ascii_uppercase()).or_insert(0) += 1;
        }
    }
    for run in runs {
        let model = run["model"].as_str().unwrap();
        assert!(
            texts.iter().filter(|t| **t == model).count() >= 2,
            "{model}: a legend entry and a bar label"
        );
    }
    let coloured = strokes.keys().filter(|k| *k != "#000000").count();
    assert!(coloured >= runs.len(), "one colour per model: {strokes:?}");
}

/// With `--sweep`, `--plot` draws the figure against the swept value: the SVG parses
/// and labels the three values and both models. (Which line is where is timing, so
/// it is not asserted; `report::sweep_plot`'s unit tests check the drawing.)
#[test]
fn sweep_plot_is_valid_svg_over_the_swept_values() {
    let _exclusive = common::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sweep.svg");
    let report = json(&[
        "scenario",
        "convoy",
        "--model",
        "gil,threads",
        "--ops",
        "5",
        "--no-calibrate",
        "--sweep",
        "switch_interval=0.5ms,1ms,5ms",
        "--plot",
        path.to_str().unwrap(),
    ]);
    assert_eq!(report["runs"].as_array().unwrap().len(), 6, "{report}");
    let svg = std::fs::read_to_string(&path).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<&str> = doc
        .descendants()
        .filter_map(|n| n.text())
        .map(str::trim)
        .collect();
    for label in ["0.5ms", "1ms", "5ms", "gil", "threads"] {
        assert!(texts.contains(&label), "no {label}: {texts:?}");
    }
}

#[test]
fn hgrm_files_hold_each_models_distribution() {
    let _exclusive = common::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("h");
    let a = with(SMALL_CPU, &["--hgrm", out_dir.to_str().unwrap()]);
    let report = json(&a);
    for run in report["runs"].as_array().unwrap() {
        let model = run["model"].as_str().unwrap();
        let path = out_dir.join(format!("cpu-bound-{model}.hgrm"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
        let count = run["latency_ns"]["count"].as_u64().unwrap();
        assert!(
            text.contains(&format!("Total count    = {count:>12}]")),
            "{model}: {text}"
        );
        // The maximum, in ms, is the last data row's value.
        let last = text.lines().rfind(|l| !l.starts_with('#')).unwrap();
        let max_ms: f64 = last.split_whitespace().next().unwrap().parse().unwrap();
        let max_ns = run["latency_ns"]["max"].as_f64().unwrap();
        assert!(
            (max_ms * 1e6 - max_ns).abs() <= max_ns * 0.001 + 1.0,
            "{last} vs {max_ns}"
        );
    }
}

fn python3() -> bool {
    std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn cpython_rows_join_cpu_bound_and_convoy() {
    if !python3() {
        eprintln!("skipped: python3 is not installed");
        return;
    }
    let _exclusive = common::exclusive();
    let cpu = json(&[
        "scenario",
        "cpu-bound",
        "--cpython",
        "--ops",
        "3",
        "--set",
        "ticks_per_op=20000",
    ]);
    let models: Vec<&str> = cpu["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["model"].as_str().unwrap())
        .collect();
    for model in [
        "sequential",
        "gil",
        "cpython-sequential",
        "cpython-threads",
        "cpython-processes",
    ] {
        assert!(models.contains(&model), "{model} missing from {models:?}");
    }
    let threads = common::run(&cpu, "cpython-threads");
    assert_eq!(threads["workers"], 2);
    assert_eq!(threads["ops"], 6, "the same 2 workers × 3 ops");
    assert_eq!(threads["latency_ns"]["count"], 6);
    assert!(threads["speedup"].as_f64().is_some());
    assert!(threads["python"].as_str().unwrap().starts_with('3'));

    let convoy = json(&[
        "scenario",
        "convoy",
        "--cpython",
        "--ops",
        "20",
        "--switch-interval",
        "1ms",
    ]);
    let io = common::run(&convoy, "cpython-threads");
    assert_eq!(io["ops"], 20, "20 round trips");
    assert_eq!(io["latency_ns"]["count"], 20);
    common::run(&convoy, "cpython-sequential");
    // The table shows them too, and nothing is left behind.
    let table = stdout(&ok(&[
        "scenario",
        "convoy",
        "--cpython",
        "--ops",
        "10",
        "--quiet",
        "--model",
        "gil",
    ]));
    assert!(table.contains("cpython-threads"), "{table}");
    let (children, zombies) = common::children_of(std::process::id());
    assert!(zombies.is_empty(), "zombies: {zombies:?} of {children:?}");
}

#[test]
fn without_python_one_line_and_the_simulated_rows() {
    let empty = tempfile::tempdir().unwrap();
    let out = gilbench()
        .env("PATH", empty.path())
        .args([
            "scenario",
            "cpu-bound",
            "--ops",
            "2",
            "--set",
            "ticks_per_op=2000",
        ])
        .args(["--cpython", "--format", "json", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("python3") && err.contains("--cpython"),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["runs"].as_array().unwrap().len(), 5);
}

/// Runs `command` under a pseudo-terminal (util-linux `script`), 200 columns wide.
fn on_a_terminal(command: &str, no_color: bool) -> Option<String> {
    let script = std::process::Command::new("script")
        .arg("--version")
        .output();
    if !script.is_ok_and(|o| o.status.success()) {
        eprintln!("skipped: no `script` to make a terminal");
        return None;
    }
    let bin = env!("CARGO_BIN_EXE_gilbench");
    let mut cmd = std::process::Command::new("script");
    cmd.args([
        "-qec",
        &format!("stty cols 200; {bin} {command}"),
        "/dev/null",
    ]);
    cmd.env_remove("NO_COLOR").env("TERM", "xterm");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd.output().ok()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn colour_and_progress_on_a_terminal_only() {
    let _exclusive = common::exclusive();
    let cmd = "scenario cpu-bound --ops 3 --set ticks_per_op=2000";
    let Some(tty) = on_a_terminal(cmd, false) else {
        return;
    };
    assert!(
        tty.contains("\x1b[36m"),
        "model colour on a terminal:\n{tty}"
    );
    // Which models the bar gets to show depends on its redraw rate and the
    // machine's speed (a fast model can finish between two redraws): any will do.
    assert!(
        tty.contains("cpu-bound under "),
        "progress names the model:\n{tty}"
    );
    assert!(tty.contains(" of sequential "), "speedup in words:\n{tty}");
    let plain = on_a_terminal(cmd, true).unwrap();
    assert!(!plain.contains("\x1b[36m"), "NO_COLOR:\n{plain}");
    let quiet = on_a_terminal(&format!("{cmd} --quiet"), false).unwrap();
    assert!(
        !quiet.contains("under gil"),
        "--quiet hides progress:\n{quiet}"
    );
    // Piped: neither colour nor progress.
    let piped = output(SMALL_CPU);
    let text = stdout(&piped) + &stderr(&piped);
    assert!(!text.contains('\x1b'), "{text}");
    assert!(
        text.contains("latency per op") && text.contains("gil: "),
        "{text}"
    );
}

#[test]
fn tour_visits_every_concept() {
    let _exclusive = common::exclusive();
    let out = ok(&["tour"]);
    let text = stdout(&out);
    for needle in [
        "concurrency, not parallelism",
        "blocking I/O",
        "convoy effect",
        "counter += 1",
        "a GIL per interpreter",
        "gilbench ctxswitch",
        "gilbench zombie",
        "→ ",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    for scenario in ["cpu-bound", "io-bound", "convoy", "shared-counter"] {
        assert!(text.contains(scenario), "{scenario}:\n{text}");
    }
    // The bimodal stops say in how many runs the effect showed.
    assert!(
        text.contains(" of 5 runs") || text.contains("all 5 runs"),
        "{text}"
    );
    // --runs applies to every stop.
    let tour = json(&["tour", "--runs", "2", "--warmup", "0"]);
    assert_eq!(tour["kind"], "tour");
    let stops = tour["stops"].as_array().unwrap();
    assert!(stops.iter().any(|s| s["report"]["runs"].is_array()));
    for stop in stops.iter().filter(|s| s["report"].is_object()) {
        for run in stop["report"]["runs"].as_array().unwrap() {
            assert_eq!(run["repeats"], 2, "{}: {run}", stop["scenario"]);
            assert_eq!(run["samples"].as_array().map(Vec::len), Some(2));
        }
    }
}

#[test]
fn tour_rejects_bad_repeat_counts() {
    common::bad_input(&["tour", "--runs", "0"], &["--runs"]);
    common::bad_input(&["tour", "--warmup", "-1"], &["--warmup"]);
}

#[test]
fn a_failed_run_leaves_no_empty_plot_or_hgrm() {
    let _exclusive = common::exclusive();
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("p.svg");
    let hgrm = dir.path().join("h");
    let out = output(&[
        "scenario",
        "cpu-bound",
        "--ops",
        "100000",
        "--timeout",
        "100ms",
        "--model",
        "threads",
        "--plot",
        plot.to_str().unwrap(),
        "--hgrm",
        hgrm.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!plot.exists(), "an empty plot was left behind");
    // A directory this run created is removed again when nothing was written.
    let left: Vec<_> = std::fs::read_dir(&hgrm)
        .map(|entries| entries.flatten().collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "no .hgrm from a failed run: {left:?}");
}

#[test]
#[ignore = "fidelity: needs a quiet machine"]
fn tour_takes_under_half_a_minute() {
    // A time budget, not a comparison: one tour (its bimodal stops 5 runs each), on
    // two free cores.
    common::fidelity::judge(|| {
        let started = std::time::Instant::now();
        ok(&["tour"]);
        let took = started.elapsed().as_secs_f64();
        common::fidelity::verdict(took < 30.0, format!("the tour took {took:.1} s (< 30)"))
    });
}
