//! The proxy a worker holds: one authenticated connection and typed calls.
//!
//! Like a CPython `BaseProxy`, each call is one request and one reply on the
//! connection (`_callmethod`), so a worker pays one round trip per proxied
//! operation. [`Client::connect`] runs the mutual handshake; the client's closing
//! `#WELCOME#` travels in front of the first request instead of alone.

use super::auth::{self, AuthError, AuthKey};
use super::frame::{self, FrameError, FrameReader, MAX_FRAME};
use super::protocol::{self, Bytes, Request, Response, ServerStats};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No server at the path.
    #[error("cannot connect to the manager at {path}: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The handshake failed.
    #[error("{0}")]
    Auth(#[from] AuthError),
    /// The server never answered the handshake (it could not accept us: out of
    /// file descriptors, or stopped).
    #[error(
        "the manager server did not answer the handshake within {} s (is it out of file \
         descriptors? see `ulimit -n`)",
        HANDSHAKE_TIMEOUT.as_secs()
    )]
    NoAnswer,
    /// The server went away (it died, or dropped us).
    #[error("lost the connection to the manager server: {0}")]
    Lost(FrameError),
    /// A request over the frame limit: nothing was sent.
    #[error("request too large for the manager: {0}")]
    TooLarge(FrameError),
    /// The reply made no sense.
    #[error("manager protocol error: {0}")]
    Protocol(String),
    /// The server answered with an error.
    #[error("the manager refused the request: {0}")]
    Remote(String),
    /// The server could not serve this connection at all, and said why (it could
    /// not start a thread for it: RLIMIT_NPROC, named in the message).
    #[error("{0}")]
    Unserved(String),
}

impl From<ClientError> for std::io::Error {
    fn from(e: ClientError) -> Self {
        let kind = match &e {
            ClientError::Lost(_) => std::io::ErrorKind::ConnectionAborted,
            ClientError::Connect { source, .. } => source.kind(),
            ClientError::Auth(_) => std::io::ErrorKind::PermissionDenied,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, e)
    }
}

/// An authenticated connection to a manager server.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    reader: FrameReader,
    /// Frames to send: the pending `#WELCOME#`, then a request.
    out: Vec<u8>,
}

/// How long a client waits for the server's side of the handshake: a live server
/// answers in microseconds, and drops an unauthenticated peer after as long.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a handshake failed because its read or write timed out.
fn timed_out(e: &AuthError) -> bool {
    // A blocking socket call past its timeout fails with EAGAIN (WouldBlock).
    matches!(
        e,
        AuthError::Frame(FrameError::Io(io))
            if matches!(io.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
    )
}

fn unexpected(response: &Response<'_>) -> ClientError {
    ClientError::Protocol(format!("unexpected reply {response:?}"))
}

impl Client {
    /// Connects to the server at `path` and proves we both know `key`.
    pub fn connect(path: &Path, key: &AuthKey) -> Result<Client, ClientError> {
        let mut stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        let mut reader = FrameReader::new();
        // A server that cannot accept us (out of descriptors, it leaves us in its
        // backlog) would keep a blocking read waiting for ever: bound the handshake.
        let bound = |s: &UnixStream, t| s.set_read_timeout(t).and_then(|()| s.set_write_timeout(t));
        bound(&stream, Some(HANDSHAKE_TIMEOUT)).map_err(|e| ClientError::Lost(e.into()))?;
        match auth::client_side(&mut stream, &mut reader, key) {
            Ok(()) => {}
            Err(e) if timed_out(&e) => return Err(ClientError::NoAnswer),
            Err(e) => return Err(e.into()),
        }
        bound(&stream, None).map_err(|e| ClientError::Lost(e.into()))?;
        let mut out = Vec::with_capacity(256);
        frame::push(&mut out, auth::WELCOME);
        Ok(Client {
            stream,
            reader,
            out,
        })
    }

    /// Sends one request and waits for its reply; a [`Response::Error`] becomes
    /// [`ClientError::Remote`].
    pub fn call(&mut self, request: &Request<'_>) -> Result<Response<'_>, ClientError> {
        protocol::encode(request, &mut self.out, MAX_FRAME).map_err(ClientError::TooLarge)?;
        let sent = frame::send_all(&self.stream, &self.out);
        self.out.clear();
        if let Err(e) = sent {
            // The server closed on us: it may have said why first.
            use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
            let closed = matches!(e.kind(), BrokenPipe | ConnectionReset);
            let why = closed.then(|| self.why_closed()).flatten();
            return Err(why.unwrap_or(ClientError::Lost(e.into())));
        }
        let payload = self
            .reader
            .read(&mut self.stream, MAX_FRAME)
            .map_err(ClientError::Lost)?;
        match protocol::decode(payload) {
            Ok(Response::Error(message)) => Err(ClientError::Remote(message.to_string())),
            Ok(Response::Unserved(why)) => Err(ClientError::Unserved(why.to_string())),
            Ok(response) => Ok(response),
            Err(e) => Err(ClientError::Protocol(e.to_string())),
        }
    }

    /// After a send failed: what the server said before it closed the connection,
    /// if it said why ([`Response::Unserved`]). Its frame is still there to read
    /// ahead of the reset: the server may close before our request arrives.
    fn why_closed(&mut self) -> Option<ClientError> {
        // The peer has closed: this read returns at once (a frame, or the reset).
        let payload = self.reader.read(&mut self.stream, MAX_FRAME).ok()?;
        match protocol::decode(payload) {
            Ok(Response::Unserved(why)) => Some(ClientError::Unserved(why.to_string())),
            _ => None,
        }
    }

    /// Does nothing, remotely.
    pub fn ping(&mut self) -> Result<(), ClientError> {
        match self.call(&Request::Ping)? {
            Response::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn int(&mut self, request: &Request<'_>) -> Result<i64, ClientError> {
        match self.call(request)? {
            Response::Int(v) => Ok(v),
            other => Err(unexpected(&other)),
        }
    }

    fn done(&mut self, request: &Request<'_>) -> Result<(), ClientError> {
        match self.call(request)? {
            Response::Done => Ok(()),
            other => Err(unexpected(&other)),
        }
    }

    fn item(&mut self, request: &Request<'_>) -> Result<Option<&[u8]>, ClientError> {
        match self.call(request)? {
            Response::Item(item) => Ok(item.map(|b| b.0)),
            other => Err(unexpected(&other)),
        }
    }

    /// `value.value`.
    pub fn value_get(&mut self, name: &str) -> Result<i64, ClientError> {
        self.int(&Request::ValueGet { name })
    }

    /// `value.value = v`.
    pub fn value_set(&mut self, name: &str, value: i64) -> Result<(), ClientError> {
        self.done(&Request::ValueSet { name, value })
    }

    /// One server-side `value += by`; returns the new value.
    pub fn value_increment(&mut self, name: &str, by: i64) -> Result<i64, ClientError> {
        self.int(&Request::ValueIncrement { name, by })
    }

    /// `lock.acquire(timeout=…)`; `None` waits as long as it takes.
    pub fn lock_acquire(
        &mut self,
        name: &str,
        timeout: Option<Duration>,
    ) -> Result<bool, ClientError> {
        let timeout_ns = timeout.map(crate::measure::nanos);
        match self.call(&Request::LockAcquire { name, timeout_ns })? {
            Response::Acquired(got) => Ok(got),
            other => Err(unexpected(&other)),
        }
    }

    /// `lock.release()`.
    pub fn lock_release(&mut self, name: &str) -> Result<(), ClientError> {
        self.done(&Request::LockRelease { name })
    }

    /// `d.get(key)`.
    pub fn dict_get(&mut self, name: &str, key: &str) -> Result<Option<&[u8]>, ClientError> {
        self.item(&Request::DictGet { name, key })
    }

    /// `d[key] = value`.
    pub fn dict_set(&mut self, name: &str, key: &str, value: &[u8]) -> Result<(), ClientError> {
        self.done(&Request::DictSet {
            name,
            key,
            value: Bytes(value),
        })
    }

    /// `d.pop(key, None) is not None`.
    pub fn dict_delete(&mut self, name: &str, key: &str) -> Result<bool, ClientError> {
        match self.call(&Request::DictDelete { name, key })? {
            Response::Bool(found) => Ok(found),
            other => Err(unexpected(&other)),
        }
    }

    /// `len(d)`.
    pub fn dict_len(&mut self, name: &str) -> Result<usize, ClientError> {
        self.int(&Request::DictLen { name }).map(|n| n as usize)
    }

    /// `l.append(item)`.
    pub fn list_append(&mut self, name: &str, item: &[u8]) -> Result<(), ClientError> {
        self.done(&Request::ListAppend {
            name,
            item: Bytes(item),
        })
    }

    /// `l[index]`, `None` when out of range.
    pub fn list_get(&mut self, name: &str, index: i64) -> Result<Option<&[u8]>, ClientError> {
        self.item(&Request::ListGet { name, index })
    }

    /// `len(l)`.
    pub fn list_len(&mut self, name: &str) -> Result<usize, ClientError> {
        self.int(&Request::ListLen { name }).map(|n| n as usize)
    }

    /// `q.put(item)` on an unbounded queue.
    pub fn queue_put(&mut self, name: &str, item: &[u8]) -> Result<(), ClientError> {
        self.queue_put_bounded(name, item, 0, None).map(drop)
    }

    /// `q.put(item, timeout=…)` on a `Queue(maxsize)` (0: unbounded): waits while
    /// it is full; false if no room came in time.
    pub fn queue_put_bounded(
        &mut self,
        name: &str,
        item: &[u8],
        maxsize: u64,
        timeout: Option<Duration>,
    ) -> Result<bool, ClientError> {
        let request = Request::QueuePut {
            name,
            item: Bytes(item),
            maxsize,
            timeout_ns: timeout.map(crate::measure::nanos),
        };
        match self.call(&request)? {
            Response::Bool(put) => Ok(put),
            other => Err(unexpected(&other)),
        }
    }

    /// `q.get(timeout=…)`; `None` when it timed out.
    pub fn queue_get(
        &mut self,
        name: &str,
        timeout: Option<Duration>,
    ) -> Result<Option<&[u8]>, ClientError> {
        let timeout_ns = timeout.map(crate::measure::nanos);
        self.item(&Request::QueueGet { name, timeout_ns })
    }

    /// The server's statistics so far.
    pub fn stats(&mut self) -> Result<ServerStats, ClientError> {
        match self.call(&Request::Stats)? {
            Response::Stats(stats) => Ok(*stats),
            other => Err(unexpected(&other)),
        }
    }

    /// Stops the server once the other connections have ended (or after a short
    /// grace); returns its final statistics.
    pub fn shutdown(mut self) -> Result<ServerStats, ClientError> {
        match self.call(&Request::Shutdown)? {
            Response::Stats(stats) => Ok(*stats),
            other => Err(unexpected(&other)),
        }
    }

    /// The raw socket, for tests that misbehave on purpose.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client on one end of a socketpair (past the handshake), and the
    /// server's end, which has sent `why` as [`Response::Unserved`].
    fn unserved(why: &str) -> (Client, UnixStream) {
        let (stream, server) = UnixStream::pair().unwrap();
        let mut out = Vec::new();
        protocol::encode(&Response::Unserved(why), &mut out, MAX_FRAME).unwrap();
        frame::send_all(&server, &out).unwrap();
        let client = Client {
            stream,
            reader: FrameReader::new(),
            out: Vec::new(),
        };
        (client, server)
    }

    fn said(result: Result<(), ClientError>, why: &str) {
        match result {
            Err(ClientError::Unserved(said)) => assert_eq!(said, why),
            other => panic!("expected the server's reason, got {other:?}"),
        }
    }

    #[test]
    fn a_server_that_cannot_serve_says_why_in_place_of_the_reply() {
        let why = "creating a thread: refused; RLIMIT_NPROC";
        let (mut client, _server) = unserved(why);
        said(client.ping(), why);
    }

    #[test]
    fn its_reason_beats_the_broken_pipe_when_it_closed_before_the_request() {
        let why = "creating a thread: refused; RLIMIT_NPROC";
        let (mut client, server) = unserved(why);
        // Closed before reading anything: the request's send fails (EPIPE).
        drop(server);
        said(client.ping(), why);
        // Without a reason, a lost connection is still that.
        let (stream, server) = UnixStream::pair().unwrap();
        drop(server);
        let mut client = Client {
            stream,
            reader: FrameReader::new(),
            out: Vec::new(),
        };
        assert!(matches!(client.ping(), Err(ClientError::Lost(_))));
    }
}
