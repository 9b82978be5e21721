//! The server's side of the handshake, run by the accept loop without blocking.
//!
//! The accepter sends each new connection its challenge and then drives every
//! unfinished handshake from its `poll` loop: a step runs when that client's bytes
//! arrive, a client that is slow or silent only occupies a slot until its deadline,
//! and no thread is woken or made until the client has proved it holds the key. The
//! client talks to one thread throughout, so the handshake costs no wake-up of a
//! second thread.
//!
//! Steps, as in [`super::auth::server_side`]: verify the client's answer (wrong:
//! `#FAILURE#` and close); `#WELCOME#`; answer the client's challenge (in the same
//! write when it came together with the answer, as ours does). Then the connection
//! goes to a thread of its own, which waits for the client's `#WELCOME#` before it
//! serves any request.

use super::auth::{self, AuthKey, FAILURE, WELCOME};
use super::frame::{self, FrameError, FrameReader, MAX_HANDSHAKE_FRAME};
use super::objects::ConnId;
use std::os::unix::net::UnixStream;
use std::time::Instant;

/// Where a handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Challenge sent; waiting for the client's answer.
    Answer,
    /// The client is in; waiting for its challenge (`welcomed`: `#WELCOME#` sent).
    Challenge { welcomed: bool },
}

/// What a step did.
#[derive(Debug)]
pub enum Step {
    /// Waiting for more bytes.
    Waiting,
    /// The client proved the key and has our proof: hand it to a thread.
    Passed,
    /// Refused (wrong key, not a client, gone); the connection is to be dropped.
    Refused,
}

/// One connection in the middle of its handshake.
#[derive(Debug)]
pub struct Pending {
    /// Its id.
    pub id: ConnId,
    /// The socket (non-blocking while pending).
    pub stream: UnixStream,
    /// What it sent so far.
    pub reader: FrameReader,
    challenge: Vec<u8>,
    stage: Stage,
    /// When it is dropped if still unfinished.
    pub deadline: Instant,
}

impl Pending {
    /// Sends `stream` its challenge; `None` if that fails.
    pub fn start(id: ConnId, stream: UnixStream, deadline: Instant) -> Option<Pending> {
        let challenge = auth::new_challenge().ok()?;
        let mut out = Vec::with_capacity(64);
        frame::push(&mut out, &challenge);
        // An empty socket buffer takes 60 bytes at once, blocking or not.
        frame::send_all(&stream, &out).ok()?;
        stream.set_nonblocking(true).ok()?;
        Some(Pending {
            id,
            stream,
            reader: FrameReader::new(),
            challenge,
            stage: Stage::Answer,
            deadline,
        })
    }

    /// Runs as many steps as the bytes received allow.
    pub fn advance(&mut self, key: &AuthKey) -> Step {
        match self.try_advance(key) {
            Ok(step) => step,
            Err(_) => Step::Refused,
        }
    }

    fn try_advance(&mut self, key: &AuthKey) -> Result<Step, FrameError> {
        let mut out = Vec::with_capacity(64);
        if self.stage == Stage::Answer {
            if !self.frame_ready()? {
                return Ok(Step::Waiting);
            }
            let response = self.reader.take();
            if auth::verify(key, &self.challenge, response).is_err() {
                let _ = frame::send_all(&self.stream, &framed(FAILURE));
                return Ok(Step::Refused);
            }
            self.stage = Stage::Challenge { welcomed: false };
        }
        let Stage::Challenge { welcomed } = self.stage else {
            unreachable!("the answer stage is done above");
        };
        if !self.frame_ready()? {
            // A client that waits for #WELCOME# before challenging us (CPython's
            // does) gets it now.
            if !welcomed {
                frame::send_all(&self.stream, &framed(WELCOME))?;
                self.stage = Stage::Challenge { welcomed: true };
            }
            return Ok(Step::Waiting);
        }
        if !welcomed {
            frame::push(&mut out, WELCOME);
        }
        match auth::answer(key, self.reader.take()) {
            Ok(proof) => frame::push(&mut out, &proof),
            Err(_) => return Ok(Step::Refused),
        }
        frame::send_all(&self.stream, &out)?;
        self.stream.set_nonblocking(false)?;
        Ok(Step::Passed)
    }

    /// Whether a whole next frame is buffered, reading what has arrived.
    fn frame_ready(&mut self) -> Result<bool, FrameError> {
        match self.reader.wait(&mut self.stream, MAX_HANDSHAKE_FRAME) {
            Ok(()) => Ok(true),
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + frame::HEADER);
    frame::push(&mut out, payload);
    out
}
