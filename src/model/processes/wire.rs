//! What a worker process sends its supervisor over its result pipe.
//!
//! The pipe carries one [`READY`] byte when the worker reaches the start line, then
//! one postcard-encoded [`Report`], then end-of-file when the worker exits. Times
//! cross as CLOCK_MONOTONIC nanoseconds and histograms in HdrHistogram's V2 format,
//! so the supervisor rebuilds exactly the [`WorkerResult`] a thread would have
//! returned, and the rows come out the same shape for every model.

use crate::measure::{clock, histogram_from_bytes, histogram_to_bytes};
use crate::model::worker::WorkerResult;
use crate::runtime::interp::GilStats;
use crate::runtime::trace::Event;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Sent when the worker arrives at the start line.
pub(super) const READY: u8 = b'R';

/// A worker's last word.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Report {
    /// It ran to the end.
    Done(Box<WireResult>),
    /// Its workload failed or it panicked: why.
    Failed(String),
}

/// [`WorkerResult`] in a form that crosses a process boundary.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WireResult {
    index: usize,
    ops: u64,
    foreground: bool,
    latency_v2: Vec<u8>,
    gil: GilStats,
    gil_wait_v2: Vec<u8>,
    busy_ns: u64,
    finished_mono_ns: u64,
    events: Vec<Event>,
    dropped_events: u64,
}

impl WireResult {
    /// Packs a worker's result.
    pub fn pack(r: WorkerResult) -> WireResult {
        WireResult {
            index: r.index,
            ops: r.ops,
            foreground: r.foreground,
            latency_v2: histogram_to_bytes(&r.latency),
            gil_wait_v2: histogram_to_bytes(&r.gil.wait),
            gil: r.gil,
            busy_ns: crate::measure::nanos(r.busy),
            finished_mono_ns: clock::to_mono_ns(r.finished),
            events: r.events,
            dropped_events: r.dropped_events,
        }
    }

    /// Unpacks it in the supervisor.
    pub fn unpack(self) -> std::io::Result<WorkerResult> {
        let mut gil = self.gil;
        gil.wait = histogram_from_bytes(&self.gil_wait_v2)?;
        Ok(WorkerResult {
            index: self.index,
            ops: self.ops,
            foreground: self.foreground,
            latency: histogram_from_bytes(&self.latency_v2)?,
            gil,
            busy: Duration::from_nanos(self.busy_ns),
            finished: clock::from_mono_ns(self.finished_mono_ns),
            events: self.events,
            dropped_events: self.dropped_events,
        })
    }

    /// When the worker finished, CLOCK_MONOTONIC ns.
    pub fn finished_mono_ns(&self) -> u64 {
        self.finished_mono_ns
    }
}

impl Report {
    /// Encodes for the pipe.
    pub fn encode(&self) -> Vec<u8> {
        postcard::to_stdvec(self).expect("a report always serialises")
    }

    /// Decodes what came through the pipe after the ready byte.
    pub fn decode(bytes: &[u8]) -> Result<Report, postcard::Error> {
        postcard::from_bytes(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::{new_histogram, record, Summary};
    use crate::runtime::trace::EventKind;
    use std::time::Instant;

    #[test]
    fn a_result_survives_the_pipe() {
        let mut latency = new_histogram();
        for v in [1_000, 2_000, 3_000_000] {
            record(&mut latency, v);
        }
        let mut gil = GilStats {
            acquisitions: 7,
            waited_ns: 11,
            ..GilStats::default()
        };
        record(&mut gil.wait, 5_000);
        let finished = Instant::now();
        let result = WorkerResult {
            index: 3,
            ops: 42,
            foreground: true,
            latency,
            gil,
            busy: Duration::from_micros(1500),
            finished,
            events: vec![Event {
                kind: EventKind::GilHeld,
                start_ns: 5,
                dur_ns: 10,
            }],
            dropped_events: 2,
        };
        let before = Summary::of(&result.latency);
        let bytes = Report::Done(Box::new(WireResult::pack(result))).encode();
        let Ok(Report::Done(wire)) = Report::decode(&bytes) else {
            panic!("decodes");
        };
        let back = wire.unpack().unwrap();
        assert_eq!((back.index, back.ops, back.foreground), (3, 42, true));
        assert_eq!(Summary::of(&back.latency), before);
        assert_eq!(back.gil.acquisitions, 7);
        assert_eq!(back.gil.wait.len(), 1);
        assert_eq!(back.busy, Duration::from_micros(1500));
        assert_eq!(back.events.len(), 1);
        assert_eq!(back.dropped_events, 2);
        let drift = if back.finished > finished {
            back.finished - finished
        } else {
            finished - back.finished
        };
        assert!(drift < Duration::from_millis(1), "{drift:?}");
        // Neither variant's encoding starts with the ready byte.
        assert_ne!(bytes[0], READY);
        assert_ne!(Report::Failed("x".into()).encode()[0], READY);
        assert!(Report::decode(&bytes[..bytes.len() / 2]).is_err());
    }
}
