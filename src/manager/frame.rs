//! Length-prefixed frames over a byte stream, with a maximum size.
//!
//! The framing of `multiprocessing.connection` on POSIX: a 4-byte big-endian length,
//! then that many bytes. A reader checks the length *before* reading or allocating
//! anything, so a peer that announces a huge frame is refused at once, and one that
//! closes mid-frame is told apart from one that closes between frames.
//!
//! [`FrameReader`] keeps one buffer per connection and usually gets a whole frame in
//! one `read(2)`; bytes that arrive early (a pipelined next frame) stay buffered for
//! the next call. [`send_all`] writes with `MSG_NOSIGNAL`, so a vanished peer is an
//! `EPIPE` error, never a `SIGPIPE` that would kill the process.

use nix::sys::socket::{send, MsgFlags};
use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

/// Bytes in a frame's length prefix.
pub const HEADER: usize = 4;

/// The largest frame payload accepted after the handshake: room for a queue item of
/// up to a MiB and its envelope.
pub const MAX_FRAME: usize = (1 << 20) + 1024;

/// The largest frame accepted during the handshake (CPython's `recv_bytes(256)`).
pub const MAX_HANDSHAKE_FRAME: usize = 256;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed the connection between frames.
    #[error("connection closed")]
    Closed,
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed mid-frame ({got} of {want} bytes)")]
    Truncated {
        /// Bytes of the frame (header included) that arrived.
        got: usize,
        /// Bytes the frame should have had.
        want: usize,
    },
    /// A frame longer than the limit.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    Oversized {
        /// The announced length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads frames from one connection, buffering what arrives early.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Default for FrameReader {
    fn default() -> Self {
        FrameReader::new()
    }
}

impl FrameReader {
    /// An empty reader with a small buffer (grown for large frames).
    pub fn new() -> FrameReader {
        FrameReader {
            buf: vec![0; 4096],
            start: 0,
            end: 0,
        }
    }

    /// Whether bytes of a next frame are already buffered.
    pub fn has_buffered(&self) -> bool {
        self.end > self.start
    }

    /// Reads the next frame of at most `max` bytes; the payload borrows the reader
    /// until the next call.
    pub fn read<R: Read>(&mut self, src: &mut R, max: usize) -> Result<&[u8], FrameError> {
        self.wait(src, max)?;
        Ok(self.take())
    }

    /// Reads until a whole next frame of at most `max` bytes is buffered (the
    /// blocking half of [`read`](Self::read), to run with the GIL released).
    pub fn wait<R: Read>(&mut self, src: &mut R, max: usize) -> Result<(), FrameError> {
        self.fill(src, HEADER, None)?;
        let len = self.announced();
        if len > max {
            return Err(FrameError::Oversized { len, max });
        }
        self.fill(src, HEADER + len, Some(HEADER + len))
    }

    /// Takes the frame that [`wait`](Self::wait) buffered.
    pub fn take(&mut self) -> &[u8] {
        let want = HEADER + self.announced();
        assert!(
            self.end - self.start >= want,
            "take() without a buffered frame"
        );
        let payload = self.start + HEADER..self.start + want;
        self.start += want;
        if self.start == self.end {
            // Nothing else buffered: the next frame goes to the front again. The
            // bytes stay valid for the borrow we hand out.
            (self.start, self.end) = (0, 0);
        }
        &self.buf[payload]
    }

    fn announced(&self) -> usize {
        let header: [u8; HEADER] = self.buf[self.start..self.start + HEADER]
            .try_into()
            .expect("HEADER bytes");
        u32::from_be_bytes(header) as usize
    }

    /// Reads until at least `need` bytes from `start` are buffered. `frame` is the
    /// whole frame's size once known (for the truncation message).
    fn fill<R: Read>(
        &mut self,
        src: &mut R,
        need: usize,
        frame: Option<usize>,
    ) -> Result<(), FrameError> {
        if self.end - self.start >= need {
            return Ok(());
        }
        if self.buf.len() - self.start < need {
            // Move what we have to the front, and grow if one frame needs more.
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.buf.len() < need {
                self.buf.resize(need, 0);
            }
        }
        while self.end - self.start < need {
            match src.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    let got = self.end - self.start;
                    return Err(if got == 0 {
                        FrameError::Closed
                    } else {
                        FrameError::Truncated {
                            got,
                            want: frame.unwrap_or(need),
                        }
                    });
                }
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(FrameError::Io(e)),
            }
        }
        Ok(())
    }
}

/// Appends a frame header to `out` (which may already hold frames) and returns where
/// the frame starts; build the payload after it, then call [`finish`].
pub fn begin(out: &mut Vec<u8>) -> usize {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    start
}

/// Fills in the length prefix of the frame that [`begin`] started at `start`.
pub fn finish(out: &mut Vec<u8>, start: usize, max: usize) -> Result<(), FrameError> {
    let len = out.len() - start - HEADER;
    if len > max {
        out.truncate(start);
        return Err(FrameError::Oversized { len, max });
    }
    out[start..start + HEADER].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Appends one whole frame holding `payload` to `out` (which may hold others).
pub fn push(out: &mut Vec<u8>, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Writes all of `bytes` to `stream`, with `MSG_NOSIGNAL`.
pub fn send_all(stream: &UnixStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match send(stream.as_raw_fd(), bytes, MsgFlags::MSG_NOSIGNAL) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn frames(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            push(&mut out, p);
        }
        out
    }

    #[test]
    fn reads_back_to_back_frames_and_reports_clean_close() {
        let bytes = frames(&[b"hello", b"", b"world!"]);
        let mut src = Cursor::new(bytes);
        let mut reader = FrameReader::new();
        assert_eq!(reader.read(&mut src, 100).unwrap(), b"hello");
        assert_eq!(reader.read(&mut src, 100).unwrap(), b"");
        assert_eq!(reader.read(&mut src, 100).unwrap(), b"world!");
        assert!(matches!(
            reader.read(&mut src, 100),
            Err(FrameError::Closed)
        ));
    }

    #[test]
    fn refuses_oversized_before_reading_the_body() {
        let mut bytes = ((MAX_FRAME + 1) as u32).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"only a little");
        let err = FrameReader::new()
            .read(&mut Cursor::new(bytes), MAX_FRAME)
            .unwrap_err();
        assert!(matches!(err, FrameError::Oversized { len, .. } if len == MAX_FRAME + 1));
    }

    #[test]
    fn truncated_frame_and_truncated_header() {
        let mut bytes = 10u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"abc");
        let err = FrameReader::new()
            .read(&mut Cursor::new(bytes), 100)
            .unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { got: 7, want: 14 }),
            "{err:?}"
        );
        let err = FrameReader::new()
            .read(&mut Cursor::new(vec![0, 0]), 100)
            .unwrap_err();
        assert!(
            matches!(err, FrameError::Truncated { got: 2, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn grows_for_large_frames_and_keeps_what_follows() {
        let big = vec![7u8; 10_000];
        let bytes = frames(&[&big, b"next"]);
        let mut src = Cursor::new(bytes);
        let mut reader = FrameReader::new();
        assert_eq!(reader.read(&mut src, 20_000).unwrap(), &big[..]);
        assert_eq!(reader.read(&mut src, 20_000).unwrap(), b"next");
    }

    /// A source that hands out one byte per read, like a slow peer.
    struct Trickle(Cursor<Vec<u8>>);
    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(1);
            self.0.read(&mut buf[..n])
        }
    }

    #[test]
    fn reassembles_frames_that_arrive_in_pieces() {
        let mut src = Trickle(Cursor::new(frames(&[b"piece by piece", b"2"])));
        let mut reader = FrameReader::new();
        assert_eq!(reader.read(&mut src, 100).unwrap(), b"piece by piece");
        assert_eq!(reader.read(&mut src, 100).unwrap(), b"2");
    }

    #[test]
    fn finish_checks_the_limit_and_frames_append() {
        let mut out = Vec::new();
        let start = begin(&mut out);
        out.extend_from_slice(b"xyz");
        finish(&mut out, start, 3).unwrap();
        assert_eq!(out, [0, 0, 0, 3, b'x', b'y', b'z']);
        let start = begin(&mut out);
        out.extend_from_slice(b"wxyz");
        assert!(matches!(
            finish(&mut out, start, 3),
            Err(FrameError::Oversized { len: 4, max: 3 })
        ));
        assert_eq!(out.len(), 7, "a refused frame is taken back out");
    }

    /// Hands out `bytes` in reads of the sizes in `chunks` (round and round), as a
    /// peer's writes arrive split anywhere.
    struct Chunked {
        bytes: Vec<u8>,
        at: usize,
        chunks: Vec<usize>,
        next: usize,
    }

    impl Read for Chunked {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let size = self.chunks[self.next % self.chunks.len()];
            self.next += 1;
            let n = size.min(buf.len()).min(self.bytes.len() - self.at);
            buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    use proptest::prelude::*;

    proptest! {
        /// Whatever arrives, however split, the reader returns frames within the
        /// limit or an error — never a panic — and never holds a buffer larger
        /// than one frame of the limit (a length claim is checked before any
        /// allocation).
        #[test]
        fn arbitrary_bytes_never_panic_or_overallocate(
            bytes in prop::collection::vec(any::<u8>(), 0..2048),
            chunks in prop::collection::vec(1usize..300, 1..8),
            max in prop_oneof![Just(MAX_HANDSHAKE_FRAME), Just(MAX_FRAME), 0usize..64],
        ) {
            let mut src = Chunked { bytes, at: 0, chunks, next: 0 };
            let mut reader = FrameReader::new();
            let mut frames = 0;
            while let Ok(payload) = reader.read(&mut src, max) {
                prop_assert!(payload.len() <= max);
                frames += 1;
                prop_assert!(frames <= 2048, "more frames than bytes");
            }
            prop_assert!(reader.buf.len() <= (HEADER + max).max(4096));
        }

        /// Frames come back exactly as sent, whatever the chunking, and the end
        /// between frames is a clean close.
        #[test]
        fn frames_survive_any_chunking(
            payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..600), 0..6),
            chunks in prop::collection::vec(1usize..700, 1..8),
        ) {
            let mut bytes = Vec::new();
            for p in &payloads {
                push(&mut bytes, p);
            }
            let mut src = Chunked { bytes, at: 0, chunks, next: 0 };
            let mut reader = FrameReader::new();
            for p in &payloads {
                prop_assert_eq!(reader.read(&mut src, MAX_FRAME).unwrap(), &p[..]);
            }
            prop_assert!(matches!(reader.read(&mut src, MAX_FRAME), Err(FrameError::Closed)));
        }

        /// A length claim over the limit is refused with nothing allocated for it.
        #[test]
        fn a_huge_length_claim_allocates_nothing(len in (MAX_FRAME as u32 + 1)..=u32::MAX) {
            let mut reader = FrameReader::new();
            let err = reader.read(&mut Cursor::new(len.to_be_bytes().to_vec()), MAX_FRAME);
            prop_assert!(matches!(err, Err(FrameError::Oversized { .. })), "{:?}", err);
            prop_assert_eq!(reader.buf.len(), 4096);
        }
    }
}
