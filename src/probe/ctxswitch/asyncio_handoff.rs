//! `asyncio-handoff`: two coroutines on one event loop
//! ([`crate::model::asyncio::event_loop`]) passing control with
//! `await asyncio.sleep(0)`. No thread blocks, no OS switch happens: a hand-off is
//! the loop putting one coroutine's step at the end of its ready queue and running
//! the other's — what a switch between coroutines costs beside the OS's switches.
//! One round trip is two hand-offs and one round of the loop.

use super::pair::{PairOutcome, Rounds};
use crate::measure::{nanos, new_histogram, record, Histogram, Rusage, RusageDelta};
use crate::model::asyncio::event_loop::{Coroutines, EventLoop, Suspended};
use std::time::{Duration, Instant};

/// Two coroutines that await `sleep(0)` in turn; coroutine 0 times its turns.
#[derive(Debug)]
struct PingPong {
    rounds: Rounds,
    /// Round trips begun by coroutine 0.
    done: u64,
    /// When coroutine 0 last resumed.
    last: Option<Instant>,
    round_trips: Histogram,
    over: bool,
}

impl Coroutines for PingPong {
    fn resume(&mut self, task: usize, now: Instant) -> std::io::Result<Suspended> {
        if task != 0 {
            return Ok(if self.over {
                Suspended::Finished
            } else {
                Suspended::Yield
            });
        }
        // `now` is the loop's own clock read at the end of the previous callback:
        // timing with it adds no clock read to the hand-off.
        if let Some(last) = self.last {
            if self.done >= self.rounds.warmup {
                record(&mut self.round_trips, nanos(now - last));
            }
            self.done += 1;
        }
        self.last = Some(now);
        if self.done >= self.rounds.warmup + self.rounds.measured {
            self.over = true;
            return Ok(Suspended::Finished);
        }
        if self.done % 1024 == 0 && crate::sys::signal::pending() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "interrupted",
            ));
        }
        Ok(Suspended::Yield)
    }

    fn select(
        &mut self,
        _readers: &[usize],
        _timeout: Option<Duration>,
        _readable: &mut Vec<usize>,
    ) -> std::io::Result<()> {
        // Never reached: nothing awaits a socket or a timer.
        Ok(())
    }
}

/// Runs the hand-offs on this thread.
pub fn measure(rounds: Rounds) -> std::io::Result<PairOutcome> {
    let mut coroutines = PingPong {
        rounds,
        done: 0,
        last: None,
        round_trips: new_histogram(),
        over: false,
    };
    let mut event_loop = EventLoop::new();
    let before = Rusage::this_thread();
    let start = Instant::now();
    event_loop.call_soon(0, start);
    event_loop.call_soon(1, start);
    while !event_loop.is_idle() {
        event_loop.run_once(&mut coroutines, None)?;
    }
    Ok(PairOutcome {
        round_trips: coroutines.round_trips,
        initiator: Rusage::this_thread().since(&before),
        responder: RusageDelta::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_measured_round_trip_is_recorded_and_nothing_blocks() {
        let out = measure(Rounds {
            warmup: 10,
            measured: 1000,
        })
        .unwrap();
        assert_eq!(out.round_trips.len(), 1000);
        assert_eq!(out.responder.voluntary_ctx_switches, 0);
    }
}
