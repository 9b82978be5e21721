//! The real GIL of a CPython twin, traced with uprobes on `take_gil` and
//! `drop_gil`, onto the same timeline as the simulation.
//!
//! With `--cpython` and any of `--trace`, `--timeline`, `--plot-timeline`,
//! each twin run is started with four uprobes on the interpreter it runs
//! ([`target`] finds the real binary behind a pyenv shim and the libpython it
//! maps, [`symbols`] the functions' file offsets): entry to and return from
//! the take function, entry to and return from the drop function. The hits,
//! each with its thread and a `CLOCK_MONOTONIC` time, become the simulation's
//! `gil-wait`, `gil-held` and `io-blocked` spans ([`spans`]), one track per
//! real thread, and the row's `gil` object is measured from them: acquisitions,
//! hold fraction and the wait histogram; `drop_requests` and `forced_switches`
//! stay null (the probes do not see the request).
//!
//! # When it cannot
//!
//! Not root, `perf_event_paranoid`, no uprobes in the kernel, or an interpreter
//! without the symbols: [`Probe::prepare`] says which in one line with the fix,
//! and the twin runs untraced; the exit code does not change.
//!
//! # What it costs
//!
//! Every hit traps into the kernel (about a microsecond or two each, four per
//! GIL round trip). The cost of one hit is measured once per twin on the same
//! interpreter ([`cost`]: a loop of `time.sleep(0)`, with and without probes,
//! alternated), and each traced row says how many hits it took and what they
//! cost (`uprobes.hit_cost_ns`, `probe_cost_ns`, `probe_cost_fraction`). Each
//! traced twin run is also paired with an untraced one, whose wall time the
//! row gives beside its own (`unprobed_wall_ns`, `wall_vs_unprobed`): a noisy
//! comparison (a convoy is a race), kept so the reader can see it.

pub mod cost;
pub mod session;
pub mod spans;
pub mod symbols;
pub mod target;

use crate::cpython::rows::WindowedRow;
use crate::measure::new_histogram;
use crate::report::{GilReport, RunReport};
use crate::sys::perf::{PerfError, UprobePmu};
use std::path::{Path, PathBuf};

/// Ready to trace one interpreter.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The interpreter binary to start the twin with (not a shim: its pid is
    /// the one whose hits are kept).
    pub executable: PathBuf,
    /// The probes' file and offsets.
    pub symbols: symbols::GilSymbols,
}

/// Why there will be no real GIL trace: the one line to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no real GIL trace: {}", self.0)
    }
}

/// `perf_event_paranoid`, if readable.
fn paranoid() -> Option<i32> {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// What to tell the user when opening probes failed.
pub fn explain(err: &PerfError) -> Unavailable {
    Unavailable(match err {
        PerfError::NoUprobes => {
            "this kernel has no uprobes (CONFIG_UPROBES, CONFIG_UPROBE_EVENTS): use a kernel built with them"
                .into()
        }
        PerfError::NotPermitted(_) if !is_root() => {
            "not root: uprobes need root (CAP_PERFMON); run gilbench with sudo".into()
        }
        PerfError::NotPermitted(e) => format!(
            "perf_event_open refused ({e}) with perf_event_paranoid={}: try `sysctl kernel.perf_event_paranoid=1`",
            paranoid().map_or("?".into(), |p| p.to_string())
        ),
        other => format!("cannot open uprobes: {other}"),
    })
}

impl Probe {
    /// Checks everything that can be checked before the run: the kernel, the
    /// permission, the interpreter and its symbols.
    pub fn prepare(python: &Path) -> Result<Probe, Unavailable> {
        UprobePmu::find().map_err(|e| explain(&e))?;
        if !is_root() {
            // The uprobe PMU wants CAP_PERFMON whatever perf_event_paranoid says,
            // and system-wide events (see sys::perf) want paranoid ≤ 0 besides.
            return Err(Unavailable(format!(
                "not root (perf_event_paranoid={}): uprobes need root or CAP_PERFMON; run gilbench with sudo",
                paranoid().map_or("?".into(), |p| p.to_string())
            )));
        }
        let target = target::resolve(python).map_err(Unavailable)?;
        let symbols = symbols::find(&target.library).map_err(|e| {
            Unavailable(match e {
                symbols::SymbolError::Stripped { path } => format!(
                    "{} has no take_gil/drop_gil symbols: install its python3.X-dbg package, or use a pyenv build",
                    path.display()
                ),
                other => other.to_string(),
            })
        })?;
        if symbols.flavour == symbols::Flavour::Legacy && crate::sys::perf::FIRST_ARG_REG.is_none()
        {
            return Err(Unavailable(format!(
                "{} is Python 2, whose GIL is told from other locks by a register gilbench cannot read on this CPU",
                target.library.display()
            )));
        }
        Ok(Probe {
            executable: target.executable,
            symbols,
        })
    }
}

/// Gives each row the traces and measured GIL of the threads seen in its
/// window, and `uprobes: {"hits", "lost"}` (its hits; records lost by the kernel).
pub fn attach(rows: &mut [WindowedRow], hits: session::Hits, pid: u32) {
    let times: Vec<u64> = hits.hits.iter().map(|h| h.1).collect();
    let threads = spans::per_thread(hits.hits);
    for (row, window) in rows.iter_mut() {
        let Some((from, to)) = *window else { continue };
        let trace = spans::row_trace(&threads, pid, from, to);
        if trace.workers.is_empty() {
            continue;
        }
        let in_window = times.iter().filter(|t| (from..=to).contains(*t)).count();
        row.extra.insert(
            "uprobes".into(),
            serde_json::json!({ "hits": in_window, "lost": hits.lost }),
        );
        let mut waits = new_histogram();
        for w in &trace.waits {
            let _ = waits.record(*w);
        }
        let wall = row.wall_ns.max(1);
        row.gil = Some(GilReport {
            acquisitions: trace.acquisitions,
            drop_requests: None,
            forced_switches: None,
            // Held over the run's own window (which includes thread start-up);
            // the row's wall time starts at its start barrier.
            hold_fraction: (trace.held_ns as f64 / to.saturating_sub(from).max(wall) as f64)
                .min(1.0),
            wait_ns: crate::measure::Summary::of(&waits),
        });
        row.trace = crate::report::trace::counts::TraceCounts::of(&trace.workers);
        row.traces = trace.workers;
    }
}

/// Adds what probing cost to each traced row: `uprobes.unprobed_wall_ns` (the
/// same twin's same row, run without probes just before), `uprobes.wall_vs_unprobed`
/// (traced wall / untraced wall: noisy, a convoy is a race), and from the
/// measured cost of one hit ([`cost`]) `uprobes.hit_cost_ns`, `probe_cost_ns`
/// (hits × cost: what tracing added) and `probe_cost_fraction` (of the wall).
pub fn add_overhead(
    traced: &mut [WindowedRow],
    plain: &[RunReport],
    hit_cost: Option<cost::HitCost>,
) {
    for (row, _) in traced.iter_mut() {
        let wall = row.wall_ns;
        if let (Some(cost), Some(serde_json::Value::Object(probes))) =
            (hit_cost, row.extra.get_mut("uprobes"))
        {
            let hits = probes["hits"].as_u64().unwrap_or(0) as f64;
            let added = hits * cost.ns_per_hit;
            probes.insert(
                "hit_cost_ns".into(),
                (cost.ns_per_hit.round() as u64).into(),
            );
            probes.insert("probe_cost_ns".into(), (added.round() as u64).into());
            if wall > 0 {
                let fraction = added / wall as f64;
                probes.insert(
                    "probe_cost_fraction".into(),
                    ((fraction * 1e4).round() / 1e4).into(),
                );
            }
        }
        let Some(base) = plain.iter().find(|p| p.model == row.model) else {
            continue;
        };
        if let Some(serde_json::Value::Object(probes)) = row.extra.get_mut("uprobes") {
            probes.insert("unprobed_wall_ns".into(), base.wall_ns.into());
            if base.wall_ns > 0 {
                let ratio = row.wall_ns as f64 / base.wall_ns as f64;
                probes.insert(
                    "wall_vs_unprobed".into(),
                    ((ratio * 1e3).round() / 1e3).into(),
                );
            }
        }
    }
}
