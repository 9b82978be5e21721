//! CLOCK_MONOTONIC as plain nanoseconds: a time that means the same in every process.
//!
//! `Instant` is CLOCK_MONOTONIC on Linux but cannot cross a process boundary, so
//! whatever must be compared between processes — a queue item's enqueue time, the
//! epoch of a run's traces, when a worker finished — travels as nanoseconds from
//! [`mono_ns`] and is turned back into an `Instant` where needed.

use nix::time::{clock_gettime, ClockId};
use std::time::{Duration, Instant};

/// Now, as CLOCK_MONOTONIC nanoseconds (a vDSO call: no system call, ~20 ns).
#[inline]
pub fn mono_ns() -> u64 {
    let t = clock_gettime(ClockId::CLOCK_MONOTONIC).expect("CLOCK_MONOTONIC is always there");
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

/// The CLOCK_MONOTONIC nanoseconds of `at`.
pub fn to_mono_ns(at: Instant) -> u64 {
    let (now, now_ns) = (Instant::now(), mono_ns());
    match now.checked_duration_since(at) {
        Some(ago) => now_ns.saturating_sub(super::nanos(ago)),
        None => now_ns + super::nanos(at - now),
    }
}

/// The `Instant` of CLOCK_MONOTONIC nanoseconds `ns` (to within the time between two
/// clock reads).
pub fn from_mono_ns(ns: u64) -> Instant {
    let (now, now_ns) = (Instant::now(), mono_ns());
    if ns <= now_ns {
        now.checked_sub(Duration::from_nanos(now_ns - ns))
            .unwrap_or(now)
    } else {
        now + Duration::from_nanos(ns - now_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_within_a_few_microseconds() {
        let at = Instant::now() - Duration::from_millis(3);
        let back = from_mono_ns(to_mono_ns(at));
        let error = if back > at { back - at } else { at - back };
        assert!(error < Duration::from_micros(200), "{error:?}");
        let later = mono_ns();
        assert!(later >= to_mono_ns(at));
    }
}
