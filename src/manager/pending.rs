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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::io::Write;
    use std::time::Duration;

    /// Starts a handshake, feeds it `bytes` from the client in `chunks`, advancing
    /// it after each, then closes the client; what the handshake came to.
    fn feed(bytes: &[u8], chunks: &[usize], key: &AuthKey) -> Step {
        let (server, mut client) = UnixStream::pair().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut pending = Pending::start(1, server, deadline).unwrap();
        let (mut at, mut next) = (0, 0);
        while at < bytes.len() {
            let n = chunks[next % chunks.len()].min(bytes.len() - at);
            next += 1;
            if client.write_all(&bytes[at..at + n]).is_err() {
                break;
            }
            at += n;
            match pending.advance(key) {
                Step::Waiting => {}
                done => return done,
            }
        }
        drop(client);
        pending.advance(key)
    }

    /// The bytes a client holding `key` sends: its answer to `challenge`, its own
    /// challenge, and `#WELCOME#` after our proof.
    fn client_bytes(key: &AuthKey, challenge: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        frame::push(&mut out, &auth::answer(key, challenge).unwrap());
        frame::push(&mut out, &auth::new_challenge().unwrap());
        out
    }

    /// A fresh handshake whose challenge the client has read, and the client.
    fn started() -> (Pending, UnixStream) {
        let (server, mut client) = UnixStream::pair().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let pending = Pending::start(1, server, deadline).unwrap();
        let mut reader = FrameReader::new();
        let sent = reader
            .read(&mut client, MAX_HANDSHAKE_FRAME)
            .unwrap()
            .to_vec();
        assert_eq!(sent, pending.challenge);
        (pending, client)
    }

    proptest! {
        /// Bytes from a client that does not know the key never pass, however
        /// they are split, and never panic.
        #[test]
        fn arbitrary_bytes_never_pass(
            bytes in prop::collection::vec(any::<u8>(), 0..1024),
            chunks in prop::collection::vec(1usize..200, 1..6),
        ) {
            let key = AuthKey::random().unwrap();
            prop_assert!(!matches!(feed(&bytes, &chunks, &key), Step::Passed));
        }

        /// A well-formed answer made with another key is refused; the same bytes
        /// made with the right key pass, whatever the chunking.
        #[test]
        fn only_the_key_passes(
            chunks in prop::collection::vec(1usize..64, 1..6),
            flip in 0usize..40,
        ) {
            let key = AuthKey::random().unwrap();
            for (answer_key, should_pass) in [(AuthKey::random().unwrap(), false), (key.clone(), true)] {
                let (mut pending, mut client) = started();
                let mut bytes = client_bytes(&answer_key, &pending.challenge);
                let (mut at, mut next, mut step) = (0, 0, Step::Waiting);
                while at < bytes.len() && matches!(step, Step::Waiting) {
                    let n = chunks[next % chunks.len()].min(bytes.len() - at);
                    next += 1;
                    client.write_all(&bytes[at..at + n]).unwrap();
                    at += n;
                    step = pending.advance(&key);
                }
                prop_assert_eq!(matches!(step, Step::Passed), should_pass, "{:?}", step);
                if should_pass {
                    // One bit off anywhere in the answer: refused.
                    let (mut pending, mut client) = started();
                    bytes = client_bytes(&key, &pending.challenge);
                    let i = frame::HEADER + 8 + flip % 32;
                    bytes[i] ^= 1;
                    client.write_all(&bytes).unwrap();
                    prop_assert!(matches!(pending.advance(&key), Step::Refused));
                }
            }
        }
    }
}
