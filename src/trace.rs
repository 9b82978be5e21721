//! Per-worker event buffers: what each simulated thread was doing, and when.
//!
//! Recording must not disturb what it records, so a buffer is preallocated to its
//! limit before the run starts and each worker owns its own: no lock and no
//! allocation on the hot path, and with tracing off every hook is one predictable
//! branch on `enabled`. Events past the limit are counted, not stored.

use serde::{Deserialize, Serialize};
use std::time::Instant;

/// What a span or instant records. The names are the Chrome-trace event names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
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
    /// The event name as it appears in traces.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::GilHeld => "gil-held",
            EventKind::GilWait => "gil-wait",
            EventKind::IoBlocked => "io-blocked",
            EventKind::Running => "running",
            EventKind::GcPause => "gc-pause",
            EventKind::ManagerRequest => "manager-request",
            EventKind::DropRequest => "drop-request",
            EventKind::ForcedSwitch => "forced-switch",
        }
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

    /// A buffer with room for `limit` events, timed from `epoch`.
    pub fn new(epoch: Instant, limit: usize) -> TraceBuf {
        TraceBuf {
            enabled: true,
            epoch,
            limit,
            events: Vec::with_capacity(limit),
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

    /// Splits into (events, dropped).
    pub fn into_parts(self) -> (Vec<Event>, u64) {
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
    }
}
