//! What clients ask the manager and what it answers, and how that is encoded.
//!
//! CPython's proxies send `(ident, methodname, args, kwds)` pickled and get back
//! `('#RETURN', value)` or `('#ERROR', exc)`. Here a request is a [`Request`] and a
//! reply a [`Response`], each one frame (see [`super::frame`]) encoded with
//! postcard: a varint variant tag, then the fields, so `ValueGet { name: "counter" }`
//! is 9 bytes. Decoding borrows strings and byte strings straight from the frame,
//! so serving a request allocates nothing.
//!
//! Shared objects are named, one namespace per kind, and come into being on first
//! use (a counter starts at 0; a dict, list or queue empty; a lock released).

use super::frame::{self, FrameError};
use crate::runtime::interp::GilStats;
use serde::{Deserialize, Serialize};

/// A byte string that encodes as one length-prefixed run of bytes (not a sequence of
/// numbers) and decodes borrowed from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes<'a>(pub &'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Bytes<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'a [u8]>::deserialize(d).map(Bytes)
    }
}

/// One request; `name` picks the shared object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<'a> {
    /// Does nothing (CPython's `dummy`, sent by `BaseManager.connect`).
    Ping,
    /// `value.get()` → [`Response::Int`].
    ValueGet {
        /// The counter.
        name: &'a str,
    },
    /// `value.set(v)` → [`Response::Done`].
    ValueSet {
        /// The counter.
        name: &'a str,
        /// The new value.
        value: i64,
    },
    /// One server-side `value += by`, atomic → [`Response::Int`] (the new value).
    ValueIncrement {
        /// The counter.
        name: &'a str,
        /// The increment.
        by: i64,
    },
    /// `lock.acquire(timeout=…)` → [`Response::Acquired`]. `None` waits forever.
    LockAcquire {
        /// The lock.
        name: &'a str,
        /// How long to wait, ns.
        timeout_ns: Option<u64>,
    },
    /// `lock.release()` → [`Response::Done`], or an error if it was not held.
    LockRelease {
        /// The lock.
        name: &'a str,
    },
    /// `d.get(key)` → [`Response::Item`].
    DictGet {
        /// The dict.
        name: &'a str,
        /// The key.
        key: &'a str,
    },
    /// `d[key] = value` → [`Response::Done`].
    DictSet {
        /// The dict.
        name: &'a str,
        /// The key.
        key: &'a str,
        /// The value.
        #[serde(borrow)]
        value: Bytes<'a>,
    },
    /// `d.pop(key, None) is not None` → [`Response::Bool`].
    DictDelete {
        /// The dict.
        name: &'a str,
        /// The key.
        key: &'a str,
    },
    /// `len(d)` → [`Response::Int`].
    DictLen {
        /// The dict.
        name: &'a str,
    },
    /// `l.append(item)` → [`Response::Done`].
    ListAppend {
        /// The list.
        name: &'a str,
        /// The item.
        #[serde(borrow)]
        item: Bytes<'a>,
    },
    /// `l[index]` (negative counts from the end) → [`Response::Item`], `None` when
    /// out of range.
    ListGet {
        /// The list.
        name: &'a str,
        /// The index.
        index: i64,
    },
    /// `len(l)` → [`Response::Int`].
    ListLen {
        /// The list.
        name: &'a str,
    },
    /// `q.put(item, timeout=…)` → [`Response::Bool`]: put, or not for want of room
    /// in time (`queue.Full`).
    QueuePut {
        /// The queue.
        name: &'a str,
        /// The item.
        #[serde(borrow)]
        item: Bytes<'a>,
        /// `Queue(maxsize)`: a put into a full queue waits; 0 for unbounded.
        maxsize: u64,
        /// How long to wait for room, ns; `None` waits forever.
        timeout_ns: Option<u64>,
    },
    /// `q.get(timeout=…)` → [`Response::Item`], `None` when it timed out (`queue.Empty`).
    QueueGet {
        /// The queue.
        name: &'a str,
        /// How long to wait, ns; `None` waits forever.
        timeout_ns: Option<u64>,
    },
    /// The server's counters so far → [`Response::Stats`].
    Stats,
    /// Waits (briefly) for the other connections to end, then replies with the final
    /// [`Response::Stats`] and stops the server.
    Shutdown,
}

/// One reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response<'a> {
    /// Done; nothing to return.
    Done,
    /// A number: a counter's value, a length.
    Int(i64),
    /// A yes/no answer (a deletion found its key).
    Bool(bool),
    /// Whether a lock acquire got the lock (false: timed out).
    Acquired(bool),
    /// An item, or none (missing key, index out of range, queue get timed out).
    #[serde(borrow)]
    Item(Option<Bytes<'a>>),
    /// The server's statistics.
    Stats(Box<ServerStats>),
    /// The request failed (the object is the wrong kind, a lock not held, …).
    Error(&'a str),
    /// The server cannot serve this connection at all (it could not start a
    /// thread for it), and says why; it closes the connection after. Sent in
    /// place of the reply to the connection's first request.
    Unserved(&'a str),
}

/// What the server has done so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerStats {
    /// Connections accepted.
    pub connections: u64,
    /// Connections that passed the handshake.
    pub authenticated: u64,
    /// Connections refused at the handshake (wrong key, not a client, timeout).
    pub refused: u64,
    /// Authenticated connections dropped for a protocol error (oversized or
    /// truncated frame, a peer that vanished mid-request).
    pub dropped: u64,
    /// Requests served.
    pub requests: u64,
    /// Requests that could not be decoded (answered with an error).
    pub bad_requests: u64,
    /// Since the server started, ns.
    pub uptime_ns: u64,
    /// The server's GIL, when it has one (threads that have ended).
    pub gil: Option<ServerGil>,
}

/// The manager's own GIL, over its connection threads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerGil {
    /// Counts and times, merged over connection threads.
    pub stats: WireGilStats,
    /// Time the GIL was held, summed over threads, ns.
    pub held_ns: u64,
    /// The wait-per-acquisition histogram, HdrHistogram V2.
    pub wait_v2: Vec<u8>,
}

/// [`GilStats`] without its histogram, as it crosses the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WireGilStats {
    /// Times a thread took the GIL.
    pub acquisitions: u64,
    /// Times a waiter set the drop request.
    pub drop_requests: u64,
    /// Times a holder was forced to switch.
    pub forced_switches: u64,
    /// Time spent waiting for the GIL, ns.
    pub waited_ns: u64,
    /// Time spent with the GIL released around blocking calls, ns.
    pub released_ns: u64,
    /// Time spent after a forced drop, waiting for another thread to take it, ns.
    pub switch_wait_ns: u64,
}

impl ServerGil {
    /// Packs merged statistics.
    pub fn pack(stats: &GilStats, held_ns: u64) -> ServerGil {
        ServerGil {
            stats: WireGilStats {
                acquisitions: stats.acquisitions,
                drop_requests: stats.drop_requests,
                forced_switches: stats.forced_switches,
                waited_ns: stats.waited_ns,
                released_ns: stats.released_ns,
                switch_wait_ns: stats.switch_wait_ns,
            },
            held_ns,
            wait_v2: crate::measure::histogram_to_bytes(&stats.wait),
        }
    }

    /// Unpacks into [`GilStats`] (an unreadable histogram becomes an empty one).
    pub fn unpack(&self) -> GilStats {
        let s = &self.stats;
        GilStats {
            acquisitions: s.acquisitions,
            drop_requests: s.drop_requests,
            forced_switches: s.forced_switches,
            waited_ns: s.waited_ns,
            released_ns: s.released_ns,
            switch_wait_ns: s.switch_wait_ns,
            wait: crate::measure::histogram_from_bytes(&self.wait_v2)
                .unwrap_or_else(|_| crate::measure::new_histogram()),
        }
    }
}

/// A frame's payload that is not a valid message.
#[derive(Debug, thiserror::Error)]
#[error("undecodable message ({len} bytes): {reason}")]
pub struct DecodeError {
    len: usize,
    reason: String,
}

/// Appends `message` to `out` as one frame of at most `max` bytes.
pub fn encode<T: Serialize>(message: &T, out: &mut Vec<u8>, max: usize) -> Result<(), FrameError> {
    let start = frame::begin(out);
    let buf = std::mem::take(out);
    *out = postcard::to_extend(message, buf)
        .map_err(|e| FrameError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e)))?;
    frame::finish(out, start, max)
}

/// Decodes one whole message from a frame's payload; trailing bytes are an error.
pub fn decode<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, DecodeError> {
    let bad = |reason: String| DecodeError {
        len: payload.len(),
        reason,
    };
    match postcard::take_from_bytes(payload) {
        Ok((message, [])) => Ok(message),
        Ok((_, rest)) => Err(bad(format!("{} trailing bytes", rest.len()))),
        Err(e) => Err(bad(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(request: Request<'_>) {
        let mut out = Vec::new();
        encode(&request, &mut out, frame::MAX_FRAME).unwrap();
        let back: Request<'_> = decode(&out[frame::HEADER..]).unwrap();
        assert_eq!(back, request);
    }

    #[test]
    fn requests_round_trip_compactly() {
        round_trip(Request::Ping);
        round_trip(Request::ValueIncrement { name: "c", by: -3 });
        round_trip(Request::DictSet {
            name: "d",
            key: "k",
            value: Bytes(b"\x00\xffvalue"),
        });
        round_trip(Request::QueueGet {
            name: "q",
            timeout_ns: Some(1_000_000),
        });
        let mut out = Vec::new();
        encode(&Request::ValueGet { name: "counter" }, &mut out, 100).unwrap();
        assert_eq!(out.len(), frame::HEADER + 9, "{out:?}");
    }

    #[test]
    fn responses_round_trip() {
        let mut out = Vec::new();
        let item = Response::Item(Some(Bytes(&[1, 2, 3])));
        encode(&item, &mut out, 100).unwrap();
        assert_eq!(decode::<Response<'_>>(&out[4..]).unwrap(), item);
        let stats = Response::Stats(Box::new(ServerStats {
            requests: 5,
            gil: Some(ServerGil::pack(&GilStats::default(), 7)),
            ..Default::default()
        }));
        out.clear();
        encode(&stats, &mut out, frame::MAX_FRAME).unwrap();
        assert_eq!(decode::<Response<'_>>(&out[4..]).unwrap(), stats);
    }

    #[test]
    fn garbage_and_trailing_bytes_are_errors() {
        assert!(decode::<Request<'_>>(&[0xff, 0xff, 0xff]).is_err());
        assert!(decode::<Request<'_>>(&[]).is_err());
        assert!(
            decode::<Request<'_>>(&[0, 0]).is_err(),
            "Ping + a stray byte"
        );
        assert!(
            decode::<Request<'_>>(&[1, 200, b'x']).is_err(),
            "name longer than the frame"
        );
    }

    #[test]
    fn oversized_messages_are_refused_when_built() {
        let big = vec![0u8; 200];
        let mut out = Vec::new();
        let err = encode(
            &Request::QueuePut {
                name: "q",
                item: Bytes(&big),
                maxsize: 0,
                timeout_ns: None,
            },
            &mut out,
            100,
        )
        .unwrap_err();
        assert!(matches!(err, FrameError::Oversized { .. }));
        assert!(out.is_empty());
    }
}
