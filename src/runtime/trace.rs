//! Per-worker event buffers: what each simulated thread was doing, and when.
//!
//! Recording must not disturb what it records, so a buffer is preallocated to its
//! limit before the run starts and each worker owns its own: no lock and no
//! allocation on the hot path, and with tracing off every hook is one predictable
//! branch on `enabled`. Events past the limit are counted, not stored.
//!
//! "Preallocated" means *touched*, not just reserved: a fresh `Vec::with_capacity`
//! is virtual memory, and the first write to each of its pages would take a page
//! fault (~0.5 µs) in the middle of the measured run. [`TraceBuf::new`] writes the
//! whole buffer once, before the start line, so recording never faults.
//!
//! Times are nanoseconds since the run's *epoch*, an [`Instant`] (`CLOCK_MONOTONIC`)
//! the model takes before its workers start. The clock is the same in every process
//! of the machine, so workers in forked processes record onto the parent's time
//! line and their events merge without adjustment.

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What a span or instant records. The names are the Chrome-trace event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum EventKind {
    /// The worker holds the GIL.
    GilHeld,
    /// The worker wants the GIL and waits for it.
    GilWait,
    /// The worker is inside a blocking call with the GIL released.
    IoBlocked,
    /// The worker runs with no GIL to take (free threads).
    Running,
    /// A garbage-collection pause.
    GcPause,
    /// A round trip to the manager server.
    ManagerRequest,
    /// Instant: a waiter set the drop request.
    DropRequest,
    /// Instant: a holder that dropped on request waits for another to take the GIL.
    ForcedSwitch,
}

impl EventKind {
    /// The event name as it appears in traces (the same as its JSON name: both
    /// are the variant's kebab-case).
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Instants have no duration.
    pub fn is_instant(self) -> bool {
        matches!(self, EventKind::DropRequest | EventKind::ForcedSwitch)
    }
}

/// One span (or instant, with `dur_ns == 0`), in nanoseconds since the run's epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// Start, ns since the epoch of the run.
    pub start_ns: u64,
    /// Duration in ns (0 for instants).
    pub dur_ns: u64,
}

impl Event {
    /// End, ns since the epoch (`start_ns` for instants).
    pub fn end_ns(&self) -> u64 {
        self.start_ns + self.dur_ns
    }
}

/// Memory one kept event takes in a buffer, for sizing `--trace-limit`.
pub const EVENT_BYTES: usize = std::mem::size_of::<Event>();

/// One worker's events.
#[derive(Debug, Clone)]
pub struct TraceBuf {
    enabled: bool,
    epoch: Instant,
    limit: usize,
    events: Vec<Event>,
    dropped: u64,
}

impl TraceBuf {
    /// A buffer that records nothing.
    pub fn disabled() -> TraceBuf {
        TraceBuf {
            enabled: false,
            epoch: Instant::now(),
            limit: 0,
            events: Vec::new(),
            dropped: 0,
        }
    }

    /// A buffer with room for `limit` events, timed from `epoch`. Its memory is
    /// written once here, so that no page fault happens while recording.
    pub fn new(epoch: Instant, limit: usize) -> TraceBuf {
        let filler = Event {
            kind: EventKind::Running,
            start_ns: 0,
            dur_ns: 0,
        };
        let mut events = vec![filler; limit];
        // Keeps the (now resident) capacity; `push` never reallocates below it.
        events.clear();
        TraceBuf {
            enabled: true,
            epoch,
            limit,
            events,
            dropped: 0,
        }
    }

    /// Whether hooks should take timestamps at all.
    #[inline(always)]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Records a span from `start` to `end`.
    #[inline]
    pub fn span(&mut self, kind: EventKind, start: Instant, end: Instant) {
        if self.enabled {
            let start_ns = start.saturating_duration_since(self.epoch).as_nanos() as u64;
            let dur_ns = end.saturating_duration_since(start).as_nanos() as u64;
            self.push(Event {
                kind,
                start_ns,
                dur_ns,
            });
        }
    }

    /// Records an instant event at `at`.
    #[inline]
    pub fn instant(&mut self, kind: EventKind, at: Instant) {
        if self.enabled {
            let start_ns = at.saturating_duration_since(self.epoch).as_nanos() as u64;
            self.push(Event {
                kind,
                start_ns,
                dur_ns: 0,
            });
        }
    }

    #[inline]
    fn push(&mut self, event: Event) {
        if self.events.len() < self.limit {
            self.events.push(event);
        } else {
            self.dropped += 1;
        }
    }

    /// The events kept, in recording order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Events not kept because the buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Splits into (events, dropped), returning the unused part of the buffer:
    /// reports keep every model's events until the end, and a mostly empty
    /// preallocated buffer per worker would add up. Call it after the run.
    pub fn into_parts(mut self) -> (Vec<Event>, u64) {
        self.events.shrink_to_fit();
        (self.events, self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_records_nothing_and_limit_counts_drops() {
        let now = Instant::now();
        let mut off = TraceBuf::disabled();
        off.instant(EventKind::DropRequest, now);
        assert!(off.events().is_empty());

        let mut on = TraceBuf::new(now, 2);
        for _ in 0..5 {
            on.span(EventKind::GilHeld, now, now);
        }
        assert_eq!(on.events().len(), 2);
        assert_eq!(on.dropped(), 3);
        assert_eq!(EventKind::GilWait.name(), "gil-wait");
        let (events, dropped) = on.into_parts();
        assert_eq!((events.len(), dropped), (2, 3));
    }

    #[test]
    fn buffer_is_allocated_up_front_and_never_grows() {
        let now = Instant::now();
        let mut buf = TraceBuf::new(now, 1000);
        let before = buf.events.as_ptr();
        for _ in 0..1000 {
            buf.instant(EventKind::ForcedSwitch, now);
        }
        assert_eq!(buf.events.as_ptr(), before, "recording reallocated");
        assert_eq!(buf.dropped(), 0);
    }

    #[test]
    fn names_round_trip_through_serde() {
        for kind in [
            EventKind::GilHeld,
            EventKind::ManagerRequest,
            EventKind::ForcedSwitch,
        ] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.name()));
        }
        assert!(EventKind::DropRequest.is_instant() && !EventKind::GcPause.is_instant());
    }
}
