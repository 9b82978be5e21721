//! A quick calibration of what one context switch costs on this machine, so a
//! scenario report can put a price on the switches it counts.
//!
//! It runs the `thread-futex` probe of `gilbench ctxswitch` twice, briefly: both
//! threads on one CPU (a pure switch) and on two CPUs (a wake-up sent to another
//! CPU), taking each p50 per switch. A scenario run's estimate is then
//!
//! `voluntary × cross-CPU cost + involuntary × same-CPU cost`
//!
//! because a thread that blocked (on the GIL, a lock, I/O) is usually woken from
//! another CPU, while a preempted thread is replaced on its own CPU. It is an
//! estimate — labelled so in the table — not a measurement of the run itself.

use crate::measure::nanos;
use crate::probe::ctxswitch::pair::Rounds;
use crate::probe::ctxswitch::{self, per_switch};
use crate::probe::options::{Mode, Pin};
use serde::Serialize;
use std::time::Instant;

/// What one switch costs here, measured just before the scenario ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Calibration {
    /// Per-switch p50 with both threads on one CPU, ns.
    pub same_cpu_ns: u64,
    /// Per-switch p50 with the threads on two CPUs (a cross-CPU wake-up), ns;
    /// the same-CPU figure on a one-CPU machine.
    pub cross_cpu_ns: u64,
    /// Round trips measured for each.
    pub rounds: u64,
    /// How long calibrating took, ns.
    pub took_ns: u64,
}

/// Round trips per placement: enough for a stable median, and only ~10 ms on a
/// slow VM (≈ 20 µs per cross-CPU round trip) — under 0.1 s even when other work
/// keeps preempting the probe.
const ROUNDS: Rounds = Rounds {
    warmup: 50,
    measured: 500,
};

/// Measures both placements.
pub fn calibrate() -> std::io::Result<Calibration> {
    let start = Instant::now();
    let cpus = crate::measure::pin::allowed_cpus();
    let p50 = |pin: Pin| -> std::io::Result<u64> {
        let outcome =
            ctxswitch::measure(Mode::ThreadFutex, ctxswitch::placement(pin, &cpus), ROUNDS)?;
        Ok(per_switch(&crate::measure::Summary::of(&outcome.round_trips)).p50)
    };
    let same_cpu_ns = p50(Pin::Same)?;
    let cross_cpu_ns = if cpus.len() >= 2 {
        p50(Pin::Cross)?
    } else {
        same_cpu_ns
    };
    Ok(Calibration {
        same_cpu_ns,
        cross_cpu_ns,
        rounds: ROUNDS.measured,
        took_ns: nanos(start.elapsed()),
    })
}

impl Calibration {
    /// The estimated cost of a run's switches, ns.
    pub fn cost_ns(&self, voluntary: u64, involuntary: u64) -> u64 {
        voluntary
            .saturating_mul(self.cross_cpu_ns)
            .saturating_add(involuntary.saturating_mul(self.same_cpu_ns))
    }
}

/// Calibrates for `gilbench scenario` unless `--no-calibrate`; a failure only
/// costs the estimate (with a warning), never the scenario.
pub fn for_scenario(skip: bool, quiet: bool) -> Option<Calibration> {
    if skip {
        return None;
    }
    if !quiet {
        eprintln!("gilbench: calibrating the context-switch cost (--no-calibrate skips it)…");
    }
    match calibrate() {
        Ok(c) => Some(c),
        Err(e) => {
            eprintln!("gilbench: warning: context-switch calibration failed ({e}); no estimate");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_weights_voluntary_by_cross_and_involuntary_by_same() {
        let c = Calibration {
            same_cpu_ns: 2_000,
            cross_cpu_ns: 10_000,
            rounds: 1,
            took_ns: 0,
        };
        assert_eq!(c.cost_ns(3, 5), 3 * 10_000 + 5 * 2_000);
        assert_eq!(c.cost_ns(u64::MAX, 1), u64::MAX);
    }
}
