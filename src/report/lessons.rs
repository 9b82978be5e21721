//! Sentences from this run's numbers: what a scenario's report showed, and when
//! it did not show the effect, why (a busy machine, too few ops). Static text
//! (a scenario file's explanation) says how the mechanism works; these say what
//! *this* run measured, so they never contradict the figures beside them.

use super::bars::{run_label, times};
use super::format::{duration_ns, rate};
use super::rows::{Cell, Row};
use super::{RunReport, ScenarioReport};

/// Lost updates as a share of the increments, %.
pub fn lost_pct(c: crate::workload::CounterOutcome) -> f64 {
    if c.expected == 0 {
        0.0
    } else {
        100.0 * c.lost as f64 / c.expected as f64
    }
}

fn find<'r>(report: &'r ScenarioReport, model: &str) -> Option<&'r RunReport> {
    report.runs.iter().find(|r| r.model == model)
}

fn speedup(report: &ScenarioReport, model: &str) -> Option<f64> {
    find(report, model)?.speedup
}

fn x(v: Option<f64>) -> String {
    v.map_or("–".into(), times)
}

/// One sentence on what this run showed.
pub fn cpu_bound(r: &ScenarioReport) -> String {
    let (g, t) = (speedup(r, "gil"), speedup(r, "threads"));
    let cores = r
        .machine
        .cpus
        .min(find(r, "threads").map_or(1, |t| t.workers));
    let mut s = format!(
        "gil ran at {} of sequential and threads at {}: under the GIL CPU-bound threads take turns; \
         without it they can use {cores} cores at once",
        x(g),
        x(t)
    );
    if t.is_some_and(|t| t < 1.2) && cores > 1 {
        s.push_str(" (threads should be near that here: the machine looks busy — rerun)");
    } else if g.is_some_and(|g| g > 1.2) {
        s.push_str(" (gil should stay near 1x: the baseline was slowed down — rerun)");
    }
    s + "."
}

/// One sentence on what this run showed.
pub fn io_bound(r: &ScenarioReport) -> String {
    format!(
        "every model overlapped the waits — gil {}, threads {} of sequential: for I/O-bound code \
         the GIL costs little.",
        x(speedup(r, "gil")),
        x(speedup(r, "threads"))
    )
}

/// One sentence on what this run showed.
pub fn convoy(r: &ScenarioReport) -> String {
    let (Some(seq), Some(gil)) = (find(r, "sequential"), find(r, "gil")) else {
        return generic(r);
    };
    let si = r.config["switch_interval_ns"].as_u64().unwrap_or(0);
    let (s, g) = (&seq.latency_ns, &gil.latency_ns);
    let verdict = if g.p50 * 2 >= si {
        "each round trip waited about a switch interval for the GIL: the convoy effect"
    } else if g.p99 * 4 >= si {
        "the slow tail is the convoy: round trips that waited up to a switch interval for the GIL"
    } else {
        "this time the I/O thread mostly got the GIL straight back; rerun, or try \
         `--set cpu_workers=2`"
    };
    format!(
        "the I/O round trip took {} alone (p99 {}) and {} under gil beside a CPU-bound thread \
         (p99 {}, switch interval {}): {verdict}.",
        duration_ns(s.p50),
        duration_ns(s.p99),
        duration_ns(g.p50),
        duration_ns(g.p99),
        duration_ns(si)
    )
}

fn lost(r: &ScenarioReport, model: &str) -> String {
    find(r, model)
        .and_then(|run| Some(lost_pct(run.counter?)))
        .map_or("–".into(), |p| format!("{p:.1}%"))
}

/// One sentence on what this run showed.
pub fn counter_none(r: &ScenarioReport) -> String {
    let (mut lost_some, mut lost_none) = (Vec::new(), Vec::new());
    for run in r.runs.iter().filter(|run| run.model != "sequential") {
        match run.counter {
            Some(c) if c.lost > 0 => {
                lost_some.push(format!("{} ({})", run.model, lost(r, &run.model)))
            }
            Some(_) => lost_none.push(run.model.clone()),
            None => {}
        }
    }
    let mut s = String::from("`counter += 1` ");
    if !lost_some.is_empty() {
        s.push_str(&format!("lost updates under {}", lost_some.join(", ")));
    }
    if !lost_none.is_empty() {
        if !lost_some.is_empty() {
            s.push_str(" and ");
        }
        s.push_str(&format!("lost none under {}", lost_none.join(", ")));
    }
    s + ": CPython 3.10+ switches only at calls and backward jumps, never mid-increment; \
         Python 2 could switch after any bytecode, and free threads race in parallel."
}

/// One sentence on what this run showed.
pub fn counter_call(r: &ScenarioReport) -> String {
    format!(
        "with a call between the read and the write, gil lost {} too: the call is a check point \
         where the GIL can change hands.",
        lost(r, "gil")
    )
}

/// One sentence on what this run showed.
pub fn sharing(r: &ScenarioReport) -> String {
    let tput = |m| find(r, m).map_or("–".into(), |run| rate(run.throughput_ops_per_s));
    format!(
        "locked increments: threads share the counter directly ({}), processes through a shared \
         mapping ({}), a Manager pays a socket round trip for each ({}).",
        tput("threads"),
        tput("processes"),
        tput("manager")
    )
}

/// `key` of the first run whose label is `label`, formatted for people.
fn field_of(r: &ScenarioReport, label: &str, key: &'static str) -> Option<String> {
    let run = r.runs.iter().find(|run| run_label(run) == label)?;
    let row = Row::of(&[], run);
    row.get(key)
        .filter(|c| !matches!(c, Cell::Null))
        .map(|c| super::markdown::value(key, c))
}

/// One sentence on what this run showed.
pub fn refcount(r: &ScenarioReport) -> String {
    let key = "refcount.corrupted";
    let wrong = |m| field_of(r, m, key).unwrap_or_else(|| "–".into());
    let threads = find(r, "threads")
        .and_then(|run| Row::of(&[], run).get(key).cloned())
        .is_some_and(|c| !matches!(c, Cell::Number(n) if n.as_u64() == Some(0)));
    if threads {
        format!(
            "free threads racing on plain counts left {} counts wrong, the GIL {}: that is why \
             CPython has one, and why free-threaded CPython needs atomic or biased (PEP 703) counts.",
            wrong("threads"),
            wrong("gil")
        )
    } else {
        "no count went wrong this run: the race needs two threads on one count at the same \
         instant, which a busy machine rarely allows; rerun, or `gilbench scenario refcount`."
            .into()
    }
}

/// One sentence on what this run showed.
pub fn fork_cow(r: &ScenarioReport) -> String {
    let copied = |variant| {
        r.runs
            .iter()
            .find(|run| run.extra.get("variant").and_then(|v| v.as_str()) == Some(variant))
            .and_then(|run| field_of(r, &run_label(run), "private_dirty_bytes"))
            .unwrap_or_else(|| "–".into())
    };
    format!(
        "a child that only reads copied {}; one whose reads touch reference counts copied {}, as \
         much as one that writes ({}): in CPython a read is a write.",
        copied("read"),
        copied("read-refcounted"),
        copied("write")
    )
}

/// One sentence on what this run showed.
pub fn alloc(r: &ScenarioReport) -> String {
    match field_of(r, "gil", "alloc.retained_held_bytes") {
        Some(kept) => format!(
            "after each op freed its objects the pools still held {kept} (under gil): pymalloc \
             keeps freed memory for reuse instead of returning it to the OS."
        ),
        None => generic(r),
    }
}

/// One sentence on what this run showed.
pub fn gc_pause(r: &ScenarioReport) -> String {
    match field_of(r, "gil", "gc.pause_ns.max") {
        Some(pause) => format!(
            "the longest collection under gil stopped the world for {pause}: a full collection \
             holds the GIL while it walks every object, so the I/O thread waits it out."
        ),
        None => generic(r),
    }
}

/// One sentence on what this run showed.
pub fn generic(r: &ScenarioReport) -> String {
    let best = r
        .runs
        .iter()
        .filter(|run| run.speedup.is_some())
        .max_by(|a, b| {
            a.speedup
                .partial_cmp(&b.speedup)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    match best {
        Some(best) => format!(
            "{} was fastest at {} of sequential. {}",
            best.model,
            x(best.speedup),
            r.summary
        ),
        None => r.summary.clone(),
    }
}
