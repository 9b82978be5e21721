//! The manager's frame decoder and message decoding, fed anything: the first
//! byte picks the frame limit, the next eight the sizes the peer's bytes arrive
//! in, the rest is the stream. Frames must come back within the limit, the
//! reader's buffer must never outgrow one frame of the limit, and decoding a
//! request or a response from any payload must return, never panic.
#![no_main]

use gilbench::manager::frame::{FrameReader, MAX_FRAME, MAX_HANDSHAKE_FRAME};
use gilbench::manager::protocol::{decode, Request, Response};
use libfuzzer_sys::fuzz_target;
use std::io::Read;

/// Hands out `data` in reads of the sizes in `sizes`, round and round.
struct Chunked<'a> {
    data: &'a [u8],
    sizes: &'a [u8],
    next: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = usize::from(self.sizes[self.next % self.sizes.len()]).max(1);
        self.next += 1;
        let n = size.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fuzz_target!(|input: &[u8]| {
    if input.len() < 9 {
        return;
    }
    let max = match input[0] % 4 {
        0 => MAX_HANDSHAKE_FRAME,
        1 => MAX_FRAME,
        _ => usize::from(input[0]),
    };
    let (sizes, data) = input[1..].split_at(8);
    let mut src = Chunked {
        data,
        sizes,
        next: 0,
    };
    let mut reader = FrameReader::new();
    while let Ok(payload) = reader.read(&mut src, max) {
        assert!(payload.len() <= max);
        let _ = decode::<Request<'_>>(payload);
        let _ = decode::<Response<'_>>(payload);
    }
});
