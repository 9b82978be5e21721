//! Probe hits → the same spans the simulation records.
//!
//! Four probes per thread, in this order each time it goes round: `take_gil`
//! entry (it asks for the GIL), `take_gil` return (it holds it), `drop_gil`
//! entry (it lets go), `drop_gil` return (it is back in its own code: running
//! a blocking call, or about to ask again). So for one thread:
//!
//! * `gil-wait`: take entry → take return;
//! * `gil-held`: take return → drop entry;
//! * `io-blocked`: drop return → the next take entry, when that gap is
//!   [`IO_BLOCK_NS`] (5 µs) or more: after `Py_BEGIN_ALLOW_THREADS` it is the
//!   blocking call. After a drop on request (a forced switch) the thread asks
//!   again at once, and the gap — a fraction of a microsecond to a few — is the
//!   GIL released and asked for again, not I/O: nothing is drawn there, as the
//!   simulated trace draws nothing between a forced switch and the next wait.
//!   [`release_gap`] is that one rule; the Chrome trace, the strips and the SVG
//!   all draw these spans, so they agree. Between drop entry and drop return (a
//!   forced switch's wait for another thread to take the GIL happens there)
//!   nothing is drawn either.
//!
//! A hit the state machine does not expect (the probes were enabled mid-way, a
//! record was lost) starts over from what the hit says, never invents a span.

use crate::model::WorkerTrace;
use crate::runtime::trace::{Event, EventKind};
use std::collections::BTreeMap;

/// Which probe fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hit {
    /// Entry to the take function.
    TakeEntry,
    /// Return from it: the thread holds the GIL.
    TakeReturn,
    /// Entry to the drop function.
    DropEntry,
    /// Return from it.
    DropReturn,
}

impl Hit {
    /// In probe order (the order the specs are opened in).
    pub const ALL: [Hit; 4] = [
        Hit::TakeEntry,
        Hit::TakeReturn,
        Hit::DropEntry,
        Hit::DropReturn,
    ];
}

/// One thread's spans, absolute `CLOCK_MONOTONIC` ns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThreadSpans {
    /// Thread id.
    pub tid: u32,
    /// (kind, start, end), in time order.
    pub spans: Vec<(EventKind, u64, u64)>,
}

/// Turns one process's hits, `(tid, time, hit)` in any order, into spans per thread.
pub fn per_thread(mut hits: Vec<(u32, u64, Hit)>) -> Vec<ThreadSpans> {
    hits.sort_by_key(|&(tid, t, hit)| (tid, t, hit));
    let mut threads: BTreeMap<u32, ThreadSpans> = BTreeMap::new();
    let mut i = 0;
    while i < hits.len() {
        let tid = hits[i].0;
        let end = hits[i..]
            .iter()
            .position(|h| h.0 != tid)
            .map_or(hits.len(), |n| i + n);
        let spans = spans_of(hits[i..end].iter().map(|&(_, t, h)| (t, h)));
        threads.insert(tid, ThreadSpans { tid, spans });
        i = end;
    }
    threads.into_values().collect()
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Not asked yet, or dropped at the given time (`Some` after a drop's return).
    Outside(Option<u64>),
    Waiting(u64),
    Holding(u64),
    Dropping,
}

fn spans_of(hits: impl Iterator<Item = (u64, Hit)>) -> Vec<(EventKind, u64, u64)> {
    let mut out = Vec::new();
    let mut state = State::Outside(None);
    for (t, hit) in hits {
        state = match (state, hit) {
            (State::Outside(since), Hit::TakeEntry) => {
                if let Some(since) = since {
                    if let Some(kind) = release_gap(t.saturating_sub(since)) {
                        out.push((kind, since, t));
                    }
                }
                State::Waiting(t)
            }
            (State::Waiting(since), Hit::TakeReturn) => {
                out.push((EventKind::GilWait, since, t));
                State::Holding(t)
            }
            (State::Holding(since), Hit::DropEntry) => {
                out.push((EventKind::GilHeld, since, t));
                State::Dropping
            }
            (State::Dropping, Hit::DropReturn) => State::Outside(Some(t)),
            // Out of step: believe the hit.
            (_, Hit::TakeEntry) => State::Waiting(t),
            (_, Hit::TakeReturn) => State::Holding(t),
            (_, Hit::DropEntry) => State::Dropping,
            (_, Hit::DropReturn) => State::Outside(Some(t)),
        };
    }
    out
}

/// What a gap of `ns` between a thread's drop of the GIL and its next take was:
/// a blocking call (`io-blocked`) when it lasted [`IO_BLOCK_NS`] or more, else
/// nothing worth a span (the GIL released and asked for again at once, as after
/// a forced switch). The one rule for every picture of a real row.
pub fn release_gap(ns: u64) -> Option<EventKind> {
    (ns >= IO_BLOCK_NS).then_some(EventKind::IoBlocked)
}

/// Python 2.7's hits on its GIL alone. `PyThread_acquire_lock` and
/// `PyThread_release_lock` serve every lock (`threading.Lock`, a `Condition`'s
/// waiters, the import lock), and the entry probes record which: the GIL is the
/// lock taken most often (every check interval, and around every blocking
/// call). A return counts when its entry did; a release, which never blocks,
/// is a drop's entry and return at once.
pub fn legacy_gil(mut hits: Vec<(u32, u64, Hit, Option<u64>)>) -> Vec<(u32, u64, Hit)> {
    let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
    for &(_, _, hit, arg) in &hits {
        if let (Hit::TakeEntry, Some(lock)) = (hit, arg) {
            *counts.entry(lock).or_default() += 1;
        }
    }
    let Some(gil) = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(lock, _)| *lock)
    else {
        return Vec::new();
    };
    hits.sort_by_key(|&(tid, t, hit, _)| (tid, t, hit));
    let mut out = Vec::with_capacity(hits.len());
    let mut taking: Option<u32> = None; // the thread whose GIL take is open
    for (tid, t, hit, arg) in hits {
        match hit {
            Hit::TakeEntry => {
                taking = (arg == Some(gil)).then_some(tid);
                if taking.is_some() {
                    out.push((tid, t, hit));
                }
            }
            Hit::TakeReturn if taking == Some(tid) => {
                out.push((tid, t, hit));
                taking = None;
            }
            Hit::DropEntry if arg == Some(gil) => {
                out.push((tid, t, Hit::DropEntry));
                out.push((tid, t, Hit::DropReturn));
            }
            _ => {}
        }
    }
    out
}

/// What a row gets from the threads seen in its time window.
#[derive(Debug, Clone, Default)]
pub struct RowTrace {
    /// One per thread, times relative to the window's start.
    pub workers: Vec<WorkerTrace>,
    /// GIL takes (held spans) in the window.
    pub acquisitions: u64,
    /// Waits, ns.
    pub waits: Vec<u64>,
    /// Time held, summed over threads, ns.
    pub held_ns: u64,
}

/// The spans of `threads` that start inside `[from, to]`, relative to `from`,
/// as worker traces of process `pid`. The main thread (`tid == pid`) is left
/// out: the twins' workers are threads it starts and joins.
pub fn row_trace(threads: &[ThreadSpans], pid: u32, from: u64, to: u64) -> RowTrace {
    let mut row = RowTrace::default();
    let mut picked: Vec<(u64, &'static str, Vec<Event>)> = Vec::new();
    for thread in threads.iter().filter(|t| t.tid != pid) {
        let spans: Vec<&(EventKind, u64, u64)> = thread
            .spans
            .iter()
            .filter(|(_, start, _)| *start >= from && *start <= to)
            .collect();
        if spans.is_empty() {
            continue;
        }
        let mut events = Vec::with_capacity(spans.len());
        let mut long_blocks = 0;
        for &&(kind, start, end) in &spans {
            let dur = end.saturating_sub(start);
            match kind {
                EventKind::GilHeld => {
                    row.acquisitions += 1;
                    row.held_ns += dur;
                }
                EventKind::GilWait => row.waits.push(dur),
                EventKind::IoBlocked => long_blocks += 1,
                _ => {}
            }
            events.push(Event {
                kind,
                start_ns: start - from,
                dur_ns: dur,
            });
        }
        let role = if long_blocks >= 3 { "io" } else { "cpu" };
        picked.push((spans[0].1, role, events));
    }
    // I/O threads first (as the simulated convoy lists its I/O worker), then by start.
    picked.sort_by_key(|(first, role, _)| (*role != "io", *first));
    row.workers = picked
        .into_iter()
        .enumerate()
        .map(|(index, (_, role, events))| WorkerTrace {
            pid,
            index,
            role,
            events,
            dropped: 0,
        })
        .collect();
    row
}

/// A gap this long between a drop and the next take is a blocking call, not the
/// sub-microsecond turnaround of a forced switch ([`release_gap`]): threads with
/// a few of them are named `io`, the rest `cpu`.
pub const IO_BLOCK_NS: u64 = 5_000;

#[cfg(test)]
mod tests {
    use super::*;
    use Hit::*;

    #[test]
    fn a_round_trip_becomes_wait_held_blocked() {
        // In µs: a 49 µs blocking call between two holds.
        let us = 1_000;
        let hits = vec![
            (7, 10 * us, TakeEntry),
            (7, 15 * us, TakeReturn),
            (7, 40 * us, DropEntry),
            (7, 41 * us, DropReturn),
            (7, 90 * us, TakeEntry),
            (7, 95 * us, TakeReturn),
            (7, 99 * us, DropEntry),
        ];
        let threads = per_thread(hits);
        assert_eq!(
            threads[0].spans,
            vec![
                (EventKind::GilWait, 10 * us, 15 * us),
                (EventKind::GilHeld, 15 * us, 40 * us),
                (EventKind::IoBlocked, 41 * us, 90 * us),
                (EventKind::GilWait, 90 * us, 95 * us),
                (EventKind::GilHeld, 95 * us, 99 * us),
            ]
        );
    }

    #[test]
    fn a_forced_switchs_quick_retake_is_not_io() {
        // A CPU-bound thread dropped on request and asked again 0.8 µs later; an
        // I/O thread came back from a 40 µs recv.
        let threads = per_thread(vec![
            (7, 0, TakeReturn),
            (7, 5_000_000, DropEntry),
            (7, 5_000_100, DropReturn),
            (7, 5_000_900, TakeEntry),
            (8, 0, DropEntry),
            (8, 100, DropReturn),
            (8, 40_100, TakeEntry),
        ]);
        assert_eq!(
            threads[0].spans,
            vec![(EventKind::GilHeld, 0, 5_000_000)],
            "no io-blocked for the retake"
        );
        assert_eq!(threads[1].spans, vec![(EventKind::IoBlocked, 100, 40_100)]);
        assert_eq!(release_gap(IO_BLOCK_NS - 1), None);
        assert_eq!(release_gap(IO_BLOCK_NS), Some(EventKind::IoBlocked));
    }

    #[test]
    fn out_of_step_hits_start_over_without_inventing_spans() {
        // The probes came up while the thread held the GIL: its first hit is a drop.
        let threads = per_thread(vec![
            (3, 5, DropEntry),
            (3, 6, DropReturn),
            (3, 9, TakeReturn),
            (3, 12, DropEntry),
        ]);
        assert_eq!(threads[0].spans, vec![(EventKind::GilHeld, 9, 12)]);
    }

    #[test]
    fn python2_keeps_the_most_taken_lock_only() {
        const GIL: Option<u64> = Some(0xa0);
        const OTHER: Option<u64> = Some(0xb0);
        let hits = vec![
            (1, 10, TakeEntry, GIL),
            (1, 11, TakeReturn, None),
            (1, 20, TakeEntry, OTHER), // threading.Lock, under the GIL
            (1, 21, TakeReturn, None),
            (1, 30, DropEntry, OTHER),
            (1, 40, DropEntry, GIL),
            (1, 41, TakeEntry, GIL),
            (1, 50, TakeReturn, None),
            (1, 60, DropEntry, GIL),
        ];
        let kept = legacy_gil(hits);
        assert_eq!(
            kept,
            vec![
                (1, 10, TakeEntry),
                (1, 11, TakeReturn),
                (1, 40, DropEntry),
                (1, 40, DropReturn),
                (1, 41, TakeEntry),
                (1, 50, TakeReturn),
                (1, 60, DropEntry),
                (1, 60, DropReturn),
            ]
        );
        let spans = per_thread(kept);
        assert_eq!(spans[0].spans[1], (EventKind::GilHeld, 11, 40));
        assert!(legacy_gil(Vec::new()).is_empty());
    }

    #[test]
    fn rows_take_their_window_and_skip_the_main_thread() {
        let mut hits = Vec::new();
        for (tid, offset) in [(100, 0), (101, 1_000), (102, 2_000)] {
            for k in 0..4u64 {
                let t = 1_000_000 + offset + k * 100_000;
                hits.push((tid, t, TakeEntry));
                hits.push((tid, t + 10, TakeReturn));
                hits.push((tid, t + 50_000, DropEntry));
                hits.push((tid, t + 50_001, DropReturn));
            }
        }
        let threads = per_thread(hits);
        let row = row_trace(&threads, 100, 1_000_000, 2_000_000);
        assert_eq!(row.workers.len(), 2, "main thread 100 left out");
        assert_eq!(row.acquisitions, 8);
        assert_eq!(row.waits, vec![10; 8]);
        assert_eq!(row.held_ns, 8 * 49_990);
        let first = &row.workers[0];
        assert_eq!((first.index, first.pid, first.role), (0, 100, "io"));
        assert_eq!(first.events[0].start_ns, 1_000);
        assert!(row_trace(&threads, 100, 5_000_000, 6_000_000)
            .workers
            .is_empty());
    }
}
