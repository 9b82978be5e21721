//! The authkey handshake of `multiprocessing.connection`, in both directions.
//!
//! CPython's manager server runs `deliver_challenge` then `answer_challenge` on every
//! new connection, and the client the mirror image (`Lib/multiprocessing/connection.py`,
//! 3.12+ wire format):
//!
//! ```text
//!   server                                   client
//!   #CHALLENGE#{sha256}<40 random bytes>  →
//!                                         ←  {sha256}<HMAC-SHA256(key, {sha256}<random>)>
//!   #WELCOME#  (or #FAILURE# and close)   →
//!                                         ←  #CHALLENGE#{sha256}<40 random bytes>
//!   {sha256}<HMAC-SHA256(key, …)>         →
//!                                         ←  #WELCOME#  (or #FAILURE# and close)
//! ```
//!
//! Every message is one length-prefixed frame of at most 256 bytes. The frames and
//! their order are CPython's; what differs is only *waiting*: our client sends its
//! own challenge right behind its answer, and the server coalesces its `#WELCOME#`
//! with its answer when that challenge is already there, so the handshake costs 1.5
//! round trips instead of 3. The server still proves nothing before the client has
//! proved itself (it answers the client's challenge only after `#WELCOME#`), so it
//! can never be used as an HMAC oracle for a reflection attack, and it waits for the
//! client's `#WELCOME#` before serving any request. The client's final `#WELCOME#`
//! is left for the caller to send (see [`client_side`]) so it can ride along with
//! the first request.

use super::frame::{self, FrameError, FrameReader, MAX_HANDSHAKE_FRAME};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::os::unix::net::UnixStream;

/// Bytes of random challenge (CPython's `MESSAGE_LENGTH`).
pub const MESSAGE_LENGTH: usize = 40;
/// Bytes of an authkey (`os.urandom(32)` in CPython's `current_process().authkey`).
pub const KEY_LENGTH: usize = 32;

const CHALLENGE: &[u8] = b"#CHALLENGE#";
/// The frame that accepts a peer.
pub const WELCOME: &[u8] = b"#WELCOME#";
/// The frame that refuses a peer.
pub const FAILURE: &[u8] = b"#FAILURE#";
const DIGEST: &[u8] = b"{sha256}";

type HmacSha256 = Hmac<Sha256>;

/// A shared secret: whoever knows it may use the manager.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthKey([u8; KEY_LENGTH]);

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthKey(…)")
    }
}

impl AuthKey {
    /// A fresh key from the OS's random source.
    pub fn random() -> std::io::Result<AuthKey> {
        let mut key = [0; KEY_LENGTH];
        random_bytes(&mut key)?;
        Ok(AuthKey(key))
    }

    /// A key with these bytes.
    pub fn from_bytes(bytes: [u8; KEY_LENGTH]) -> AuthKey {
        AuthKey(bytes)
    }

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LENGTH] {
        &self.0
    }

    fn mac(&self, message: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(message);
        mac
    }
}

/// Why a handshake failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The peer's answer to our challenge was wrong: it has another key.
    #[error("authentication failed: the peer's answer to our challenge was wrong (wrong authkey)")]
    WrongKey,
    /// The peer rejected our answer.
    #[error("authentication failed: the peer rejected our answer (wrong authkey)")]
    Refused,
    /// Something that is not part of the handshake.
    #[error("handshake protocol error: {0}")]
    Protocol(String),
    /// The connection failed or closed during the handshake.
    #[error("connection failed during the handshake: {0}")]
    Frame(#[from] FrameError),
}

impl From<std::io::Error> for AuthError {
    fn from(e: std::io::Error) -> Self {
        AuthError::Frame(FrameError::Io(e))
    }
}

/// Fills `buf` from the OS's random source (`getrandom(2)`).
pub fn random_bytes(buf: &mut [u8]) -> std::io::Result<()> {
    getrandom::fill(buf).map_err(|e| std::io::Error::other(format!("getrandom: {e}")))
}

/// A challenge frame's payload: `#CHALLENGE#{sha256}` and random bytes.
pub fn new_challenge() -> Result<Vec<u8>, AuthError> {
    let mut random = [0u8; MESSAGE_LENGTH];
    random_bytes(&mut random)?;
    let mut message = Vec::with_capacity(CHALLENGE.len() + DIGEST.len() + MESSAGE_LENGTH);
    message.extend_from_slice(CHALLENGE);
    message.extend_from_slice(DIGEST);
    message.extend_from_slice(&random);
    Ok(message)
}

/// `_create_response`: the answer to a challenge frame's payload.
pub fn answer(key: &AuthKey, challenge: &[u8]) -> Result<Vec<u8>, AuthError> {
    let message = challenge.strip_prefix(CHALLENGE).ok_or_else(|| {
        AuthError::Protocol(format!("expected a challenge, got {}", show(challenge)))
    })?;
    if !message.starts_with(DIGEST) || message.len() < DIGEST.len() + 20 {
        return Err(AuthError::Protocol(format!(
            "unsupported challenge (only {{sha256}} is spoken here): {}",
            show(message)
        )));
    }
    let mut response = DIGEST.to_vec();
    response.extend_from_slice(&key.mac(message).finalize().into_bytes());
    Ok(response)
}

/// `_verify_challenge`: checks `response` against the challenge we sent.
pub fn verify(key: &AuthKey, challenge: &[u8], response: &[u8]) -> Result<(), AuthError> {
    let message = &challenge[CHALLENGE.len()..];
    let mac = response.strip_prefix(DIGEST).ok_or(AuthError::WrongKey)?;
    // Constant-time comparison, like `hmac.compare_digest`.
    key.mac(message)
        .verify_slice(mac)
        .map_err(|_| AuthError::WrongKey)
}

fn send_frames(stream: &UnixStream, payloads: &[&[u8]]) -> Result<(), AuthError> {
    let mut out = Vec::with_capacity(128);
    for p in payloads {
        frame::push(&mut out, p);
    }
    frame::send_all(stream, &out)?;
    Ok(())
}

/// The server's side, blocking: `deliver_challenge`, then `answer_challenge`. On
/// `Ok` the client has proved it knows `key` and accepted our proof; requests may
/// follow in `reader`. (The manager server runs the same steps without blocking,
/// see `super::pending`.)
pub fn server_side(
    stream: &mut UnixStream,
    reader: &mut FrameReader,
    key: &AuthKey,
) -> Result<(), AuthError> {
    let challenge = new_challenge()?;
    send_frames(stream, &[&challenge])?;
    let response = reader.read(stream, MAX_HANDSHAKE_FRAME)?;
    if let Err(e) = verify(key, &challenge, response) {
        // Best effort: the peer may already be gone.
        let _ = send_frames(stream, &[FAILURE]);
        return Err(e);
    }
    // Answer the client's challenge in the same write when it is already here; a
    // client that waits for #WELCOME# first (as CPython's does) gets it alone.
    let mut out = Vec::with_capacity(64);
    frame::push(&mut out, WELCOME);
    if !reader.has_buffered() {
        frame::send_all(stream, &out)?;
        out.clear();
    }
    let theirs = reader.read(stream, MAX_HANDSHAKE_FRAME)?;
    frame::push(&mut out, &answer(key, theirs)?);
    frame::send_all(stream, &out)?;
    server_finish(stream, reader)
}

/// The server's last step: the client accepts our proof (`#WELCOME#`) or not.
pub fn server_finish(stream: &mut UnixStream, reader: &mut FrameReader) -> Result<(), AuthError> {
    match reader.read(stream, MAX_HANDSHAKE_FRAME)? {
        m if m == WELCOME => Ok(()),
        m if m == FAILURE => Err(AuthError::Refused),
        other => Err(AuthError::Protocol(format!(
            "expected #WELCOME#, got {}",
            show(other)
        ))),
    }
}

/// The client's side: `answer_challenge`, then `deliver_challenge`. On `Ok` both
/// sides are proved; the caller must send the final [`WELCOME`] frame (alone, or in
/// front of its first request).
pub fn client_side(
    stream: &mut UnixStream,
    reader: &mut FrameReader,
    key: &AuthKey,
) -> Result<(), AuthError> {
    let theirs = reader.read(stream, MAX_HANDSHAKE_FRAME)?;
    let response = answer(key, theirs)?;
    let ours = new_challenge()?;
    send_frames(stream, &[&response, &ours])?;
    match reader.read(stream, MAX_HANDSHAKE_FRAME) {
        Ok(m) if m == WELCOME => {}
        Ok(m) if m == FAILURE => return Err(AuthError::Refused),
        Ok(other) => {
            return Err(AuthError::Protocol(format!(
                "expected #WELCOME#, got {}",
                show(other)
            )))
        }
        // A server that refuses us closes at once; the close can overtake the frame.
        Err(FrameError::Closed) => return Err(AuthError::Refused),
        Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
            return Err(AuthError::Refused)
        }
        Err(e) => return Err(e.into()),
    }
    let proof = reader.read(stream, MAX_HANDSHAKE_FRAME)?;
    if let Err(e) = verify(key, &ours, proof) {
        let _ = send_frames(stream, &[FAILURE]);
        return Err(e);
    }
    Ok(())
}

/// A short printable rendering of bytes for error messages.
pub fn show(bytes: &[u8]) -> String {
    let shown: String = bytes
        .iter()
        .take(24)
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect();
    if bytes.len() > 24 {
        format!("b\"{shown}…\" ({} bytes)", bytes.len())
    } else {
        format!("b\"{shown}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().unwrap()
    }

    fn handshake(
        server_key: AuthKey,
        client_key: AuthKey,
    ) -> (Result<(), AuthError>, Result<(), AuthError>) {
        let (mut s, mut c) = pair();
        let server = std::thread::spawn(move || {
            let result = server_side(&mut s, &mut FrameReader::new(), &server_key);
            drop(s);
            result
        });
        let mut reader = FrameReader::new();
        let client = client_side(&mut c, &mut reader, &client_key);
        if client.is_ok() {
            send_frames(&c, &[WELCOME]).unwrap();
        }
        drop(c);
        (server.join().unwrap(), client)
    }

    #[test]
    fn same_key_passes_both_ways() {
        let key = AuthKey::random().unwrap();
        let (server, client) = handshake(key.clone(), key);
        server.unwrap();
        client.unwrap();
    }

    #[test]
    fn wrong_key_is_refused_by_the_server() {
        let (server, client) = handshake(AuthKey::random().unwrap(), AuthKey::random().unwrap());
        assert!(matches!(server, Err(AuthError::WrongKey)), "{server:?}");
        assert!(matches!(client, Err(AuthError::Refused)), "{client:?}");
    }

    #[test]
    fn answers_match_cpython() {
        // hmac.new(b"k"*32, b"{sha256}" + bytes(range(40)), "sha256").hexdigest()
        let key = AuthKey::from_bytes([b'k'; 32]);
        let mut challenge = CHALLENGE.to_vec();
        challenge.extend_from_slice(DIGEST);
        challenge.extend(0..40u8);
        let response = answer(&key, &challenge).unwrap();
        assert!(response.starts_with(b"{sha256}"));
        assert_eq!(response.len(), 8 + 32);
        verify(&key, &challenge, &response).unwrap();
        let mut forged = response.clone();
        forged[10] ^= 1;
        assert!(matches!(
            verify(&key, &challenge, &forged),
            Err(AuthError::WrongKey)
        ));
        assert!(answer(&key, b"#CHALLENGE#short").is_err());
        assert!(answer(&key, b"GET / HTTP/1.1").is_err());
    }

    #[test]
    fn a_client_that_is_not_a_client_gets_nothing() {
        let (mut s, c) = pair();
        let key = AuthKey::random().unwrap();
        let server = std::thread::spawn(move || server_side(&mut s, &mut FrameReader::new(), &key));
        // Something that skips the challenge and sends a request-looking frame.
        send_frames(&c, &[b"\x00\x07counter"]).unwrap();
        assert!(matches!(server.join().unwrap(), Err(AuthError::WrongKey)));
        let mut reader = FrameReader::new();
        let mut c = c;
        assert!(reader.read(&mut c, 256).unwrap().starts_with(CHALLENGE));
        assert_eq!(reader.read(&mut c, 256).unwrap(), FAILURE);
    }

    #[test]
    fn key_is_not_printed() {
        assert_eq!(format!("{:?}", AuthKey::from_bytes([1; 32])), "AuthKey(…)");
    }
}
