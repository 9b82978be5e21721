//! `gilbench ctxswitch`: what a context switch costs, measured as ping-pong round
//! trips between two threads or two processes that block while they wait.
//!
//! A round trip is two hand-offs; on one CPU (`--pin same`) each is a context
//! switch, on two (`--pin cross`) each is a wake-up sent to another CPU (an
//! inter-processor interrupt, and a CPU leaving idle). `process-pipe` is what
//! `perf bench sched pipe` runs, `thread-pipe` what `perf bench sched pipe -T` runs.

pub mod asyncio_handoff;
pub mod gil_handoff;
pub mod pair;
pub mod transport;

use crate::measure::stats::{median_u64, Spread};
use crate::measure::{Machine, Summary};
use crate::model::RunError;
use crate::plan::names::Named;
use crate::probe::options::{CtxswitchPlan, Mode, Pin};
use crate::probe::results::{
    CtxswitchReport, CtxswitchResult, CtxswitchSample, CtxswitchSpread, ProbeMode,
};
use crate::runtime::shm::SharedRegion;
use crate::sys::signal::Interrupts;
use anyhow::Context;
use pair::{PairOutcome, Placement, Rounds};
use std::sync::atomic::AtomicU32;
use transport::{EventfdPair, FutexEndpoint, PipeEndpoint, YieldEndpoint};

/// Runs every probe of the plan, one after another.
pub fn run(plan: &CtxswitchPlan, quiet: bool) -> anyhow::Result<CtxswitchReport> {
    // Ctrl-C and SIGTERM stop the ping-pong (the initiator looks every few rounds),
    // which kills and reaps a responding child, and end the command with 130.
    let interrupts = Interrupts::catch().context("installing the Ctrl-C handler")?;
    let mut results = Vec::new();
    for (mode, pin) in jobs(plan) {
        let place = placement(pin, &plan.cpus);
        let rounds = Rounds {
            warmup: plan.warmup,
            measured: plan.rounds,
        };
        // Each run is a fresh pair (new threads or processes, reaped before the
        // next); nothing between runs is inside a measured round trip.
        let mut samples = Vec::with_capacity(plan.runs as usize);
        for run in 1..=plan.runs {
            if !quiet {
                eprintln!(
                    "gilbench: ctxswitch {mode} (pin {pin}), run {run}/{}…",
                    plan.runs
                );
            }
            let outcome = measure(mode, place, rounds);
            if interrupts.caught() {
                return Err(RunError::Interrupted.into());
            }
            let outcome = outcome.with_context(|| format!("ctxswitch {mode} (pin {pin})"))?;
            samples.push(sample(&outcome));
        }
        results.push(result(mode, pin, place, plan.rounds, samples));
    }
    Ok(CtxswitchReport {
        gilbench: crate::cli::VERSION,
        kind: "ctxswitch",
        machine: Machine::current(),
        warmup: plan.warmup,
        results,
    })
}

/// The (mode, placement) pairs to run, mode by mode. `yield` runs once, on one
/// CPU: across CPUs a yield gives nothing away, it just spins; `asyncio-handoff`
/// runs once, on the one thread its loop has.
fn jobs(plan: &CtxswitchPlan) -> Vec<(Mode, Pin)> {
    let mut jobs = Vec::new();
    for &mode in &plan.modes {
        if matches!(mode, Mode::Yield | Mode::AsyncioHandoff) {
            jobs.push((mode, Pin::Same));
            continue;
        }
        for &pin in &plan.pins {
            jobs.push((mode, pin));
        }
    }
    jobs
}

/// The CPUs for a placement: the first allowed CPU for both (`same`), the first
/// two (`cross`), none (`none`).
pub fn placement(pin: Pin, cpus: &[usize]) -> Placement {
    let first = cpus.first().copied().unwrap_or(0);
    match pin {
        Pin::Same => Placement {
            a: Some(first),
            b: Some(first),
        },
        Pin::Cross => Placement {
            a: Some(first),
            b: Some(cpus.get(1).copied().unwrap_or(first)),
        },
        Pin::None => Placement::default(),
    }
}

/// Runs one probe.
pub fn measure(mode: Mode, place: Placement, rounds: Rounds) -> std::io::Result<PairOutcome> {
    match mode {
        Mode::ThreadFutex | Mode::ProcessFutex | Mode::Yield => {
            // One token word; in shared memory so a forked child sees the same one.
            let region = SharedRegion::new(128)?;
            let word: &AtomicU32 = region.layout().place();
            match mode {
                Mode::ThreadFutex => {
                    let (a, b) = FutexEndpoint::pair(word);
                    pair::threads(a, b, place, rounds)
                }
                Mode::ProcessFutex => {
                    let (a, b) = FutexEndpoint::pair(word);
                    let abort = || transport::abort_word(word);
                    pair::processes(a, b, Some(&abort), place, rounds)
                }
                _ => {
                    let (a, b) = YieldEndpoint::pair(word);
                    pair::threads(a, b, place, rounds)
                }
            }
        }
        Mode::ThreadPipe => {
            let (a, b) = PipeEndpoint::pair()?;
            pair::threads(a, b, place, rounds)
        }
        Mode::ProcessPipe => {
            let (a, b) = PipeEndpoint::pair()?;
            // A dead child closes its pipe ends: `a` reads end-of-file on its own.
            pair::processes(a, b, None, place, rounds)
        }
        Mode::Eventfd => {
            let fds = EventfdPair::new()?;
            let (a, b) = fds.endpoints();
            pair::threads(a, b, place, rounds)
        }
        Mode::GilHandoff => {
            let gil = crate::runtime::gil::Gil::new(gil_handoff::INTERVAL);
            let (a, b) = gil_handoff::GilEndpoint::pair(&gil);
            pair::threads(a, b, place, rounds)
        }
        Mode::AsyncioHandoff => asyncio_handoff::measure(rounds),
    }
}

/// Halves every value of a round-trip summary: the per-switch summary. Halving is
/// monotonic, so the quantiles of the halves are the halves of the quantiles.
pub fn per_switch(rt: &Summary) -> Summary {
    let half = |v: u64| v.div_ceil(2);
    Summary {
        count: rt.count,
        min: half(rt.min),
        mean: half(rt.mean),
        p50: half(rt.p50),
        p90: half(rt.p90),
        p99: half(rt.p99),
        p999: half(rt.p999),
        max: half(rt.max),
    }
}

fn sample(o: &PairOutcome) -> CtxswitchSample {
    let rt = Summary::of(&o.round_trips);
    CtxswitchSample {
        switch_ns: per_switch(&rt),
        round_trip_ns: rt,
        voluntary_ctx_switches: o.initiator.voluntary_ctx_switches
            + o.responder.voluntary_ctx_switches,
        involuntary_ctx_switches: o.initiator.involuntary_ctx_switches
            + o.responder.involuntary_ctx_switches,
    }
}

/// One probe's row: the medians of its runs, with their spread and groups.
fn result(
    mode: Mode,
    pin: Pin,
    place: Placement,
    rounds: u64,
    samples: Vec<CtxswitchSample>,
) -> CtxswitchResult {
    let median = |f: fn(&CtxswitchSample) -> u64| {
        median_u64(&samples.iter().map(f).collect::<Vec<_>>()).unwrap_or(0)
    };
    let (vol, invol) = (
        median(|s| s.voluntary_ctx_switches),
        median(|s| s.involuntary_ctx_switches),
    );
    let p50s: Vec<u64> = samples.iter().map(|s| s.switch_ns.p50).collect();
    CtxswitchResult {
        mode: mode.name(),
        pin: pin.name(),
        sides: match mode {
            _ if mode.is_process() => "processes",
            Mode::AsyncioHandoff => "coroutines",
            _ => "threads",
        },
        cpus: match mode {
            // Not pinned: one thread, wherever it runs.
            Mode::AsyncioHandoff => Vec::new(),
            _ => [place.a, place.b].into_iter().flatten().collect(),
        },
        rounds,
        switch_ns: Summary::median_of(&samples.iter().map(|s| s.switch_ns).collect::<Vec<_>>()),
        round_trip_ns: Summary::median_of(
            &samples.iter().map(|s| s.round_trip_ns).collect::<Vec<_>>(),
        ),
        voluntary_ctx_switches: vol,
        involuntary_ctx_switches: invol,
        ctx_switches_per_round_trip: (vol + invol) as f64 / rounds.max(1) as f64,
        perf_equivalent: mode.perf_equivalent(),
        repeats: samples.len() as u32,
        spread: CtxswitchSpread {
            switch_p50_ns: Spread::of_u64(&p50s).unwrap_or_default(),
        },
        modes: ProbeMode::of_p50s(&p50s),
        samples,
    }
}
