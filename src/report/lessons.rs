//! Sentences from this run's numbers: what a scenario's report showed, and when
//! it did not show the effect, why (a busy machine, too few ops). Static text
//! (a scenario file's explanation) says how the mechanism works; these say what
//! *this* run measured, so they never contradict the figures beside them.
//!
//! Each lesson reads only the rows it needs and returns `None` when they are not
//! there (a `--model` list without `gil`, say): no sentence rather than one with
//! holes. [`of`] picks the lesson for a scenario's table; the tour names one per
//! stop.

use super::bars::{run_label, times};
use super::format::{duration_ns, rate};
use super::repeats::Sample;
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

/// Lost updates for people: `6.8%`, or `3 of 2,000,000` when that rounds to 0.0%.
pub fn lost_words(c: crate::workload::CounterOutcome) -> String {
    let pct = lost_pct(c);
    if c.lost > 0 && pct < 0.05 {
        format!(
            "{} of {}",
            super::format::count(c.lost),
            super::format::count(c.expected)
        )
    } else {
        format!("{pct:.1}%")
    }
}

/// The lesson for a scenario's table, by its workload (and, for
/// `shared-counter`, its `sync` mode); `None` for a workload without one or a run
/// without the rows it needs.
pub fn of(report: &ScenarioReport) -> Option<String> {
    let kind = report.config["workload"].as_str()?;
    match kind {
        "cpu-bound" => cpu_bound(report),
        "io-bound" => io_bound(report),
        "convoy" => convoy(report),
        "shared-counter" => match report.config["params"]["sync"].as_str() {
            Some("none") | None => counter_none(report),
            Some("none-call") => counter_call(report),
            Some(_) => sharing(report),
        },
        "queue" => queue(report),
        "refcount" => refcount(report),
        "fork-cow" => fork_cow(report),
        "alloc" => alloc(report),
        "gc-pause" => gc_pause(report),
        _ => None,
    }
}

fn find<'r>(report: &'r ScenarioReport, model: &str) -> Option<&'r RunReport> {
    report.runs.iter().find(|r| r.model == model)
}

/// How many of `run`'s measured runs `showed` the effect, as `(k, n)`; `None` for a
/// row of one run (its figures already say it).
fn runs_showing(run: &RunReport, showed: impl Fn(&Sample) -> bool) -> Option<(usize, usize)> {
    let samples = &run.repeat.samples;
    (samples.len() > 1).then(|| (samples.iter().filter(|s| showed(s)).count(), samples.len()))
}

/// `all 5 runs`, `none of the 5 runs`, `3 of 5 runs`.
pub fn of_runs(k: usize, n: usize) -> String {
    match k {
        0 if n == 1 => "the one run".replace("the one", "no"),
        0 => format!("none of the {n} runs"),
        k if k == n && n == 1 => "the one run".into(),
        k if k == n => format!("all {n} runs"),
        k => format!("{k} of {n} runs"),
    }
}

fn speedup(report: &ScenarioReport, model: &str) -> Option<f64> {
    find(report, model)?.speedup
}

/// The cores `model`'s workers could use at once here.
fn cores(r: &ScenarioReport, model: &str) -> usize {
    r.machine.cpus.min(find(r, model).map_or(1, |t| t.workers))
}

/// What this run said about cpu-bound: the GIL's turns against free threads.
pub fn cpu_bound(r: &ScenarioReport) -> Option<String> {
    let (g, t) = (speedup(r, "gil"), speedup(r, "threads"));
    let cores = cores(r, "threads");
    let mut s = match (g, t) {
        (Some(g), Some(t)) => format!(
            "gil ran at {} of sequential and threads at {}: under the GIL CPU-bound threads \
             take turns; without it they can use {cores} cores at once",
            times(g),
            times(t)
        ),
        (Some(g), None) => format!(
            "gil ran at {} of sequential: under the GIL CPU-bound threads take turns",
            times(g)
        ),
        (None, Some(t)) => format!(
            "threads ran at {} of sequential: without a GIL they can use {cores} cores at once",
            times(t)
        ),
        (None, None) => return None,
    };
    // Free threads should come near one core each; well short of that, something
    // else had the cores.
    if t.is_some_and(|t| t < 0.75 * cores as f64) && cores > 1 {
        s.push_str(
            " — but here the threads did not: the machine looks busy (other programs held \
             the cores); rerun on a quieter machine",
        );
    }
    if g.is_some_and(|g| g > 1.2) {
        s.push_str(" (gil should stay near 1x: the baseline was slowed down — rerun)");
    }
    Some(s + ".")
}

/// What this run said about io-bound: every model overlapped the waits, or not.
pub fn io_bound(r: &ScenarioReport) -> Option<String> {
    let (g, t) = (speedup(r, "gil")?, speedup(r, "threads"));
    let workers = find(r, "gil").map_or(1, |run| run.workers);
    let threads = t.map_or(String::new(), |t| format!(", threads {}", times(t)));
    if workers > 1 && g < 0.5 * workers as f64 {
        Some(format!(
            "gil overlapped fewer waits than it can ({} of sequential{threads}, with {workers} \
             workers: up to {workers}x): the waits are real sleeps, so a busy machine that \
             wakes the workers late shrinks the overlap — rerun.",
            times(g)
        ))
    } else {
        Some(format!(
            "the waits overlapped under every model — gil {} of sequential{threads}, with \
             {workers} workers: for I/O-bound code the GIL costs little.",
            times(g)
        ))
    }
}

/// What this run said about the convoy: did the I/O thread wait a switch interval?
pub fn convoy(r: &ScenarioReport) -> Option<String> {
    let (seq, gil) = (find(r, "sequential")?, find(r, "gil")?);
    let si = r.config["switch_interval_ns"].as_u64().unwrap_or(0);
    let (s, g) = (&seq.latency_ns, &gil.latency_ns);
    // Per run: the whole run convoyed (its p50 waited), only its tail did, or neither.
    let full = |l: &crate::measure::Summary| l.p50 * 2 >= si;
    let tail = |l: &crate::measure::Summary| !full(l) && l.p99 * 4 >= si;
    let (convoyed, tailed) = (
        runs_showing(gil, |r| full(&r.latency_ns)),
        runs_showing(gil, |r| tail(&r.latency_ns)),
    );
    let some_showed = convoyed.is_some_and(|(k, _)| k > 0) || tailed.is_some_and(|(k, _)| k > 0);
    let verdict = if full(g) {
        "each round trip waited about a switch interval for the GIL: the convoy effect"
    } else if tail(g) {
        "most round trips got the GIL straight back, and the slow tail is the convoy: round \
         trips that waited up to a switch interval for it"
    } else if some_showed {
        "in the median run the I/O thread got the GIL straight back (the CPU thread was \
         descheduled when the reply came), but not in every run"
    } else {
        "this time the I/O thread got the GIL straight back (the CPU thread was descheduled \
         when the reply came, or the machine is busy), so no convoy showed; rerun, or try \
         `--set cpu_workers=2`"
    };
    let mut out = format!(
        "the I/O round trip took {} alone (p99 {}) and {} under gil beside a CPU-bound thread \
         (p99 {}, switch interval {}): {verdict}.",
        duration_ns(s.p50),
        duration_ns(s.p99),
        duration_ns(g.p50),
        duration_ns(g.p99),
        duration_ns(si)
    );
    if let (Some((full, n)), Some((tail, _))) = (convoyed, tailed) {
        let mut parts = Vec::new();
        if full > 0 {
            parts.push(format!(
                "{} convoyed (p50 at least half a switch interval)",
                of_runs(full, n)
            ));
        }
        if tail > 0 {
            parts.push(format!(
                "{} convoyed only in the tail (p99)",
                of_runs(tail, n)
            ));
        }
        if n - full - tail > 0 {
            parts.push(format!(
                "{} got the GIL straight back",
                of_runs(n - full - tail, n)
            ));
        }
        out.push_str(&format!(" Under gil, {}.", and_list(&parts)));
    }
    Some(out)
}

fn lost(r: &ScenarioReport, model: &str) -> Option<String> {
    find(r, model).and_then(|run| Some(lost_words(run.counter?)))
}

/// Why `model` lost (or did not lose) updates with `counter += 1`.
fn why_lost(model: &str, lost: bool) -> &'static str {
    match (model, lost) {
        ("gil", false) => {
            "CPython 3.10+ switches only at calls and backward jumps, never mid-increment"
        }
        ("gil", true) => {
            "3.10+ should never switch mid-increment: look at the GIL table, and report it"
        }
        ("gil-3.9", true) => "CPython 3.9 could switch after the add, before the store",
        ("gil-legacy", true) => "Python 2 could switch after any counted bytecode",
        ("gil-3.9" | "gil-legacy", false) => {
            "a switch can fall between the read and the write, but none did this time; raise \
             --ops"
        }
        ("threads" | "processes", true) => "they run in parallel and race",
        ("manager", true) => "a get and a set are two round trips apart",
        (_, false) => {
            "they race only when two workers touch the counter at the same instant, which \
             did not happen this time: a busy machine or too few ops; rerun or raise --ops"
        }
        (_, true) => "nothing stops a switch between the read and the write",
    }
}

/// What this run said about `counter += 1`: each model's losses with the reason
/// that holds for that model.
pub fn counter_none(r: &ScenarioReport) -> Option<String> {
    // (reason, models with their losses), in report order.
    let mut groups: Vec<(&'static str, bool, Vec<String>)> = Vec::new();
    for run in r.runs.iter().filter(|run| run.model != "sequential") {
        let Some(c) = run.counter else { continue };
        // A model lost updates when any of its runs did: the median can be 0 while
        // some runs lost (the race is rare for free threads on a busy machine).
        let losing = runs_showing(run, |s| s.counter.is_some_and(|c| c.lost > 0));
        let lost = c.lost > 0 || losing.is_some_and(|(k, _)| k > 0);
        let reason = why_lost(&run.model, lost);
        let entry = match (lost, losing) {
            (true, Some((k, n))) if c.lost == 0 => {
                let most = run
                    .repeat
                    .samples
                    .iter()
                    .filter_map(|s| s.counter)
                    .max_by_key(|c| c.lost)
                    .unwrap_or(c);
                format!(
                    "up to {} under {} in {}",
                    lost_words(most),
                    run.model,
                    of_runs(k, n)
                )
            }
            (true, Some((k, n))) => {
                format!("{} under {} in {}", lost_words(c), run.model, of_runs(k, n))
            }
            (true, None) => format!("{} under {}", lost_words(c), run.model),
            (false, Some((_, n))) => format!("{} in {}", run.model, of_runs(n, n)),
            (false, None) => run.model.clone(),
        };
        match groups.iter_mut().find(|(r, _, _)| *r == reason) {
            Some((_, _, models)) => models.push(entry),
            None => groups.push((reason, lost, vec![entry])),
        }
    }
    if groups.is_empty() {
        return None;
    }
    let clauses: Vec<String> = groups
        .iter()
        .map(|(reason, lost, models)| {
            if *lost {
                format!("lost {} ({reason})", and_list(models))
            } else {
                format!("lost none under {} ({reason})", and_list(models))
            }
        })
        .collect();
    Some(format!("`counter += 1` {}.", clauses.join("; ")))
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// What this run said about a call between read and write.
pub fn counter_call(r: &ScenarioReport) -> Option<String> {
    let run = find(r, "gil")?;
    let gil = run.counter?;
    let runs = runs_showing(run, |s| s.counter.is_some_and(|c| c.lost > 0))
        .map_or(String::new(), |(k, n)| format!(", in {}", of_runs(k, n)));
    Some(if gil.lost > 0 {
        format!(
            "with a call between the read and the write, gil lost {} too{runs}: the call is a \
             check point where the GIL can change hands.",
            lost(r, "gil").unwrap_or_default()
        )
    } else {
        "with a call between the read and the write gil can lose updates too (the call is a \
         check point where the GIL can change hands), but it lost none: a switch \
         must fall on that call; rerun or raise --ops."
            .into()
    })
}

/// What this run said about sharing: the price of each way to share a counter.
pub fn sharing(r: &ScenarioReport) -> Option<String> {
    let tput = |m| find(r, m).map(|run| rate(run.throughput_ops_per_s));
    let mut parts = Vec::new();
    if let Some(t) = tput("threads") {
        parts.push(format!("threads share the counter directly ({t})"));
    }
    if let Some(t) = tput("processes") {
        parts.push(format!("processes through a shared mapping ({t})"));
    }
    if let Some(t) = tput("manager") {
        parts.push(format!("a Manager pays a socket round trip for each ({t})"));
    }
    if parts.is_empty() {
        return None;
    }
    let sync = r.config["params"]["sync"].as_str().unwrap_or("lock");
    Some(format!("{sync} increments: {}.", parts.join(", ")))
}

/// What this run said about the queue: items per second and how long an item
/// waited between put and get, per model.
pub fn queue(r: &ScenarioReport) -> Option<String> {
    let figures: Vec<String> = r
        .runs
        .iter()
        .filter(|run| run.latency_ns.count > 0)
        .map(|run| {
            format!(
                "{} {} (p50 {})",
                run.model,
                rate(run.throughput_ops_per_s),
                duration_ns(run.latency_ns.p50)
            )
        })
        .collect();
    if figures.is_empty() {
        return None;
    }
    let si = r.config["switch_interval_ns"].as_u64().unwrap_or(0);
    let verdict = match (find(r, "gil"), find(r, "threads")) {
        (Some(g), Some(t))
            if g.latency_ns.p50 * 4 >= si
                && t.latency_ns.p50 * 4 < si
                && g.latency_ns.p50 >= 2 * t.latency_ns.p50 =>
        {
            format!(
                ": under gil a consumer woken by an item still waits for the GIL, up to a switch \
             interval ({}), so items wait milliseconds; free threads take them in {}",
                duration_ns(si),
                duration_ns(t.latency_ns.p50)
            )
        }
        (Some(g), Some(t)) if g.latency_ns.p50 * 4 >= si => format!(
            ": items waited milliseconds under free threads too ({} against gil's {}), so \
             here they queued up behind slow consumers whatever the lock (a busy machine \
             delays the consumers), and the GIL's wait of up to a switch interval ({}) does \
             not stand out; rerun on a quieter machine",
            duration_ns(t.latency_ns.p50),
            duration_ns(g.latency_ns.p50),
            duration_ns(si)
        ),
        (Some(g), Some(t)) if g.latency_ns.p50 > t.latency_ns.p50 => format!(
            ": under gil items waited longer than between free threads ({} against {}), \
             though far less than a switch interval ({}) — the consumer mostly got the GIL \
             back at once",
            duration_ns(g.latency_ns.p50),
            duration_ns(t.latency_ns.p50),
            duration_ns(si)
        ),
        (Some(_), Some(_)) => ": the GIL did not slow the hand-over (a busy machine \
             delays free threads too); rerun"
            .to_string(),
        _ => String::new(),
    };
    Some(format!(
        "items handed over per second, and each one's wait from put to get: {}{verdict}.",
        figures.join(", ")
    ))
}

/// `key` of the first run whose label is `label`, formatted for people.
fn field_of(r: &ScenarioReport, label: &str, key: &'static str) -> Option<String> {
    let run = r.runs.iter().find(|run| run_label(run) == label)?;
    let row = Row::of(&[], run);
    row.get(key)
        .filter(|c| !matches!(c, Cell::Null))
        .map(|c| super::markdown::value(key, c))
}

/// What this run said about plain reference counts without a GIL.
pub fn refcount(r: &ScenarioReport) -> Option<String> {
    let key = "refcount.corrupted";
    let counting = r.config["params"]["counting"].as_str().unwrap_or("plain");
    let threads = find(r, "threads")?;
    let wrong = Row::of(&[], threads).get(key).cloned()?;
    let none = matches!(&wrong, Cell::Number(n) if n.as_u64() == Some(0));
    let gil = field_of(r, "gil", key).map_or(String::new(), |g| format!(", the GIL {g}"));
    let wrong_runs = runs_showing(threads, |s| s.extra_u64(key).is_some_and(|n| n > 0));
    let runs = wrong_runs.map_or(String::new(), |(k, n)| format!(" in {}", of_runs(k, n)));
    Some(if counting != "plain" {
        format!(
            "with {counting} counts free threads left {} counts wrong{runs}{gil}: {counting} \
             counts need no GIL.",
            super::markdown::value(key, &wrong)
        )
    } else if !none {
        format!(
            "free threads racing on plain counts left {} counts wrong{runs}{gil}: that is why \
             CPython has one, and why free-threaded CPython needs atomic or biased (PEP 703) \
             counts.",
            super::markdown::value(key, &wrong)
        )
    } else if let Some((k, n)) = wrong_runs.filter(|(k, _)| *k > 0) {
        let most = threads
            .repeat
            .samples
            .iter()
            .filter_map(|s| s.extra_u64(key))
            .max()
            .unwrap_or(0);
        format!(
            "free threads racing on plain counts left counts wrong in {} (up to {}; the \
             median run none{gil}): the race needs two threads on one count at the same \
             instant, which is rare, but it is why CPython has a GIL and free-threaded \
             CPython needs atomic or biased (PEP 703) counts.",
            of_runs(k, n),
            super::format::count(most)
        )
    } else {
        let runs = wrong_runs.map_or(String::new(), |(_, n)| format!(" in any of the {n} runs"));
        format!(
            "no count went wrong{runs}: the race needs two threads on one count at the same \
             instant, which a busy machine (or `foreign_ratio = 0`) rarely allows; rerun."
        )
    })
}

/// What this run said about copy-on-write after fork.
pub fn fork_cow(r: &ScenarioReport) -> Option<String> {
    // A forked child's copy: threads share the parent's memory and copy nothing.
    let copied = |variant| {
        r.runs
            .iter()
            .filter(|run| run.model != "threads")
            .find(|run| run.extra.get("variant").and_then(|v| v.as_str()) == Some(variant))
            .and_then(|run| field_of(r, &run_label(run), "private_dirty_bytes"))
    };
    let (read, refcounted) = (copied("read")?, copied("read-refcounted")?);
    let write = copied("write").map_or(String::new(), |w| format!(", as one that writes ({w})"));
    Some(format!(
        "a child that only reads copied {read}; one whose reads touch reference counts copied \
         {refcounted}{write}: in CPython a read is a write."
    ))
}

/// What this run said about pymalloc's pools, and the allocator's speed.
pub fn alloc(r: &ScenarioReport) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(g) = speedup(r, "gil") {
        let t = speedup(r, "threads")
            .map_or(String::new(), |t| format!(" and threads at {}", times(t)));
        let verdict = if g > 1.2 {
            "; gil cannot allocate in parallel (one allocator, the GIL its lock), so above 1x \
             the baseline was slowed down — rerun"
        } else {
            ": under a GIL one allocator serves the threads in turn"
        };
        parts.push(format!("gil ran at {} of sequential{t}{verdict}", times(g)));
    }
    if let Some(kept) = field_of(r, "gil", "alloc.retained_held_bytes") {
        parts.push(format!(
            "after each op freed its objects the pools still held {kept} (under gil): pymalloc \
             keeps freed memory for reuse instead of returning it to the OS"
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; ") + ".")
}

/// What this run said about a full collection's pause.
pub fn gc_pause(r: &ScenarioReport) -> Option<String> {
    let pause = field_of(r, "gil", "gc.pause_ns.max")?;
    let collections = field_of(r, "gil", "gc.collections").unwrap_or_default();
    if pause == "0 ns" || collections == "0" {
        return Some(
            "no collection ran under gil: one comes every `collect_every` ops, so \
             there were too few ops to see a pause; raise --ops."
                .into(),
        );
    }
    let worst = find(r, "gil").map_or(String::new(), |g| {
        let alone = find(r, "sequential").map_or(String::new(), |s| {
            format!(", {} alone", duration_ns(s.latency_ns.max))
        });
        format!(
            " (the I/O worker's worst round trip: {}{alone})",
            duration_ns(g.latency_ns.max)
        )
    });
    Some(format!(
        "the longest collection under gil stopped the world for {pause}{worst}: a full \
         collection holds the GIL while it walks every object, so the I/O thread waits it out."
    ))
}

/// A sentence for a scenario without a lesson of its own: its fastest model.
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
            best.speedup.map_or("–".into(), times),
            r.summary
        ),
        None => r.summary.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture::{bare_run, report_with};
    use crate::workload::CounterOutcome;

    fn counter(model: &str, expected: u64, lost: u64) -> RunReport {
        let mut run = bare_run(model);
        run.counter = Some(CounterOutcome {
            expected,
            observed: expected - lost,
            lost,
        });
        run
    }

    #[test]
    fn each_model_gets_the_reason_that_holds_for_it() {
        let mut r = report_with(&[]);
        r.runs = vec![
            counter("gil", 1000, 0),
            counter("gil-legacy", 1000, 284),
            counter("threads", 1000, 68),
            counter("processes", 1000, 0),
        ];
        let s = counter_none(&r).unwrap();
        assert!(s.contains("lost 28.4% under gil-legacy (Python 2"), "{s}");
        assert!(
            s.contains("6.8% under threads (they run in parallel"),
            "{s}"
        );
        assert!(s.contains("none under gil (CPython 3.10+"), "{s}");
        // processes lost none: not credited to CPython 3.10's check points.
        assert!(
            s.contains("none under processes (they race only when"),
            "{s}"
        );
        assert!(!s.contains("gil and processes"), "{s}");
    }

    /// `run` as a merge of runs that lost `lost[i]` of 1000 each.
    fn repeated_counter(model: &str, lost: &[u64]) -> RunReport {
        let reps: Vec<RunReport> = lost.iter().map(|&l| counter(model, 1000, l)).collect();
        crate::report::repeats::merge(reps).unwrap()
    }

    #[test]
    fn repeats_say_how_many_runs_showed_the_effect() {
        let mut r = report_with(&[]);
        r.runs = vec![
            repeated_counter("gil", &[0, 0, 0, 0, 0]),
            repeated_counter("gil-3.9", &[400, 410, 0, 420, 405]),
            repeated_counter("threads", &[0, 3, 0, 0, 1]),
        ];
        let s = counter_none(&r).unwrap();
        assert!(
            s.contains("lost none under gil in all 5 runs (CPython"),
            "{s}"
        );
        assert!(
            s.contains("40.5% under gil-3.9 in 4 of 5 runs (CPython 3.9"),
            "{s}"
        );
        // The median run lost none, two did: named with the most any run lost.
        assert!(
            s.contains("up to 0.3% under threads in 2 of 5 runs (they"),
            "{s}"
        );
        assert!(!s.contains("did not happen"), "{s}");
        assert_eq!(of_runs(0, 3), "none of the 3 runs");
    }

    #[test]
    fn a_convoy_in_some_runs_is_counted() {
        let mut r = report_with(&[]);
        r.config = serde_json::json!({"switch_interval_ns": 5_000_000});
        let with_p50 = |model: &str, p50: u64| {
            let mut run = bare_run(model);
            run.latency_ns.p50 = p50;
            run.latency_ns.p99 = p50 * 2;
            run.latency_ns.count = 10;
            run
        };
        let gil = [20_000, 5_100_000, 21_000, 5_200_000, 19_000]
            .iter()
            .map(|&p| with_p50("gil", p))
            .collect();
        r.runs = vec![
            with_p50("sequential", 10_000),
            crate::report::repeats::merge(gil).unwrap(),
        ];
        let s = convoy(&r).unwrap();
        assert!(s.contains("not in every run"), "{s}");
        assert!(s.contains("2 of 5 runs convoyed"), "{s}");
        assert!(s.contains("3 of 5 runs got the GIL straight back"), "{s}");
        assert!(!s.contains("no convoy showed"), "{s}");
    }

    #[test]
    fn a_queue_slow_under_every_model_does_not_blame_the_gil() {
        let mut r = report_with(&[]);
        r.config = serde_json::json!({"switch_interval_ns": 5_000_000});
        let with_p50 = |model: &str, p50: u64| {
            let mut run = bare_run(model);
            run.latency_ns.p50 = p50;
            run.latency_ns.count = 10;
            run.throughput_ops_per_s = 1e6;
            run
        };
        r.runs = vec![with_p50("gil", 24_300_000), with_p50("threads", 7_230_000)];
        let s = queue(&r).unwrap();
        assert!(s.contains("under free threads too"), "{s}");
        assert!(!s.contains("free threads take them in"), "{s}");
        r.runs[1].latency_ns.p50 = 387_000;
        assert!(queue(&r)
            .unwrap()
            .contains("free threads take them in 387 µs"));
    }

    #[test]
    fn a_lesson_needs_its_rows() {
        let r = report_with(&[]);
        assert_eq!(cpu_bound(&r), None);
        assert_eq!(convoy(&r), None);
        assert_eq!(counter_none(&r), None);
        assert_eq!(queue(&r), None);
        assert_eq!(of(&r), None, "no workload in the config");
    }

    #[test]
    fn a_busy_machine_is_named_when_threads_did_not_scale() {
        let mut r = report_with(&[]);
        r.machine.cpus = 2;
        let mut seq = bare_run("sequential");
        seq.speedup = Some(1.0);
        let mut threads = bare_run("threads");
        threads.workers = 2;
        threads.speedup = Some(1.09);
        r.runs = vec![seq, threads];
        let s = cpu_bound(&r).unwrap();
        assert!(s.contains("1.09x") && s.contains("busy"), "{s}");
    }
}
