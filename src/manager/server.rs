//! The manager server: an accept loop and one thread per client connection.
//!
//! As in CPython's `multiprocessing.managers.Server`, every connection gets a
//! thread of its own that serves that client's requests one after another until it
//! goes away. With a GIL (`--manager-gil on`, the default) the connection threads
//! share one simulated [`Gil`], exactly as the threads of CPython's manager process
//! share theirs: a request is handled while holding it, and it is released while
//! blocked in `recv`/`send` and in blocking calls (lock acquire, queue get).
//!
//! The accept loop also runs every handshake up to the point where the client has
//! proved it holds the key ([`super::pending`]), without blocking: a client that
//! never answers occupies a slot until [`ServerConfig::handshake_timeout`], nothing
//! else. Only then does the connection get its thread ([`super::pool`]), which
//! waits for the client's closing `#WELCOME#` before it serves anything. A frame
//! over [`MAX_FRAME`], a frame cut short, or a peer that vanishes mid-request ends
//! that connection only; an undecodable request is answered with an error. When a
//! connection ends, the locks it held are released. A connection the server
//! cannot give a thread (RLIMIT_NPROC) is told why ([`Response::Unserved`]) and
//! closed; the others go on.
//!
//! Out of descriptors (`EMFILE`, `ENFILE`), the accept loop sheds the oldest
//! unfinished handshake (an unauthenticated client holds a descriptor an
//! authenticated one could use) and stops polling the listener for
//! [`ACCEPT_BACKOFF`] rather than spin on a listener that stays readable; at most
//! [`MAX_PENDING`] handshakes are in progress at once, the oldest shed first. The
//! stop flag, the caught signals and the parent's death are looked at on every
//! turn of the loop, busy or not.

use super::auth::{self, AuthKey};
use super::frame::{self, FrameError, FrameReader, MAX_FRAME};
use super::objects::{ConnId, Objects};
use super::pending::{Pending, Step};
use super::pool::Pool;
use super::protocol::{self, Request, Response, ServerGil, ServerStats};
use crate::runtime::gil::Gil;
use crate::runtime::interp::{GilStats, Interp, Lock};
use crate::runtime::trace::TraceBuf;
use crate::sys::signal::Interrupts;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long `Shutdown` waits for the other connections to end before replying.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How long a stopping server waits for its connection threads to end.
const STOP_GRACE: Duration = Duration::from_millis(500);

/// How often the accept loop wakes to check on its parent.
const PARENT_CHECK: Duration = Duration::from_millis(200);

/// Connections accepted per turn of the loop, so pending handshakes get a turn too.
const ACCEPT_BURST: usize = 16;

/// Handshakes in progress at most; past it the oldest is dropped for the newest.
pub const MAX_PENDING: usize = 256;

/// How long the listener rests after `accept` ran out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `Some(switch interval)`: connection threads share a simulated GIL.
    pub gil: Option<Duration>,
    /// A client must prove it holds the key within this long.
    pub handshake_timeout: Duration,
    /// Stop when this process is no longer our parent (it died).
    pub parent: Option<nix::unistd::Pid>,
    /// Stop when one of these signals has been caught.
    pub stop_on: Option<Arc<Interrupts>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            gil: Some(Duration::from_millis(5)),
            handshake_timeout: Duration::from_secs(10),
            parent: None,
            stop_on: None,
        }
    }
}

/// Counters the accepter and the connection threads add to.
#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    authenticated: AtomicU64,
    refused: AtomicU64,
    dropped: AtomicU64,
}

/// What ended threads leave behind.
#[derive(Debug, Default)]
struct Merged {
    requests: u64,
    bad_requests: u64,
    gil: GilStats,
    gil_held_ns: u64,
}

/// An authenticated connection on its way to its thread.
#[derive(Debug)]
struct Job {
    id: ConnId,
    stream: UnixStream,
    reader: FrameReader,
}

/// State the accepter and the connection threads share.
#[derive(Debug)]
struct Shared {
    key: AuthKey,
    config: ServerConfig,
    objects: Objects,
    gil: Option<Gil>,
    counters: Counters,
    merged: Mutex<Merged>,
    /// Connections with a thread, by id: their descriptors, to shut them down when
    /// the server stops. A thread removes its entry before it closes the socket,
    /// and the descriptor is used only under this lock, so it is always open.
    live: Mutex<HashMap<ConnId, RawFd>>,
    ended: Condvar,
    stop: AtomicBool,
    wake: OwnedFd,
    started: Instant,
    pool: Pool<Job>,
}

/// A bound, not yet running, manager server.
#[derive(Debug)]
pub struct Server {
    listener: UnixListener,
    wake_rx: OwnedFd,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds the listening socket at `path`.
    pub fn bind(path: &Path, key: AuthKey, config: ServerConfig) -> std::io::Result<Server> {
        let listener = UnixListener::bind(path)?;
        Server::with_listener(listener, key, config)
    }

    /// Serves on an already bound listener (bound by the parent before forking).
    pub fn with_listener(
        listener: UnixListener,
        key: AuthKey,
        config: ServerConfig,
    ) -> std::io::Result<Server> {
        listener.set_nonblocking(true)?;
        let (wake_rx, wake) = nix::unistd::pipe()?;
        Ok(Server {
            listener,
            wake_rx,
            shared: Arc::new(Shared {
                gil: config.gil.map(Gil::new),
                key,
                config,
                objects: Objects::default(),
                counters: Counters::default(),
                merged: Mutex::new(Merged::default()),
                live: Mutex::new(HashMap::new()),
                ended: Condvar::new(),
                stop: AtomicBool::new(false),
                wake,
                started: Instant::now(),
                pool: Pool::new(),
            }),
        })
    }

    /// A handle that stops the server from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper(Arc::clone(&self.shared))
    }

    /// Accepts, authenticates and hands out connections until a `Shutdown`
    /// request, a [`Stopper`], the [`ServerConfig::stop_on`], or the death of
    /// [`ServerConfig::parent`]; returns the final statistics.
    pub fn run(self) -> std::io::Result<ServerStats> {
        let mut next_id: ConnId = 0;
        let mut pending: std::collections::VecDeque<Pending> = Default::default();
        let mut resting_until: Option<Instant> = None;
        loop {
            // Every turn, however busy the loop: a server that only looked when
            // idle could outlive its parent under a flood of connections.
            if self.shared.stop.load(Ordering::Acquire) || self.parent_gone() || self.signalled() {
                break;
            }
            let now = Instant::now();
            let resting = resting_until.is_some_and(|until| now < until);
            let wait = pending
                .iter()
                .map(|p| p.deadline.saturating_duration_since(now))
                .chain(resting_until.map(|until| until.saturating_duration_since(now)))
                .fold(PARENT_CHECK, Duration::min);
            let mut fds = Vec::with_capacity(2 + pending.len());
            let listen = if resting {
                PollFlags::empty()
            } else {
                PollFlags::POLLIN
            };
            fds.push(PollFd::new(self.listener.as_fd(), listen));
            fds.push(PollFd::new(self.wake_rx.as_fd(), PollFlags::POLLIN));
            fds.extend(
                pending
                    .iter()
                    .map(|p| PollFd::new(p.stream.as_fd(), PollFlags::POLLIN)),
            );
            let timeout = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
            match poll(&mut fds, timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
            let readable: Vec<bool> = fds.iter().map(|f| f.any().unwrap_or(true)).collect();
            drop(fds);
            if readable[1] {
                break;
            }
            // Advance the handshakes that have news, drop the ones out of time.
            let now = Instant::now();
            let mut still = std::collections::VecDeque::with_capacity(pending.len());
            for (mut p, &news) in pending.drain(..).zip(&readable[2..]) {
                let step = if news {
                    p.advance(&self.shared.key)
                } else {
                    Step::Waiting
                };
                match step {
                    Step::Waiting if now < p.deadline => still.push_back(p),
                    Step::Waiting | Step::Refused => {
                        self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
                    }
                    Step::Passed => self.hand_off(p),
                }
            }
            pending = still;
            if readable[0] && !resting {
                for _ in 0..ACCEPT_BURST {
                    match self.listener.accept() {
                        Ok((stream, _)) => {
                            next_id += 1;
                            self.shared
                                .counters
                                .connections
                                .fetch_add(1, Ordering::Relaxed);
                            let deadline = Instant::now() + self.shared.config.handshake_timeout;
                            match Pending::start(next_id, stream, deadline) {
                                Some(p) => pending.push_back(p),
                                None => {
                                    self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                            if pending.len() > MAX_PENDING {
                                self.shed_oldest(&mut pending);
                            }
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
                            // Out of descriptors: free one held by a client that has
                            // not proved anything yet, and rest the listener a while.
                            self.shed_oldest(&mut pending);
                            resting_until = Some(Instant::now() + ACCEPT_BACKOFF);
                            break;
                        }
                        // A connection aborted before accept: serve the others.
                        Err(_) => break,
                    }
                }
            }
        }
        self.shared.stop.store(true, Ordering::Release);
        drop(pending);
        // Unblock connection threads waiting in recv, and give them a moment to
        // end and merge their statistics (one blocked in a lock or queue wait
        // cannot be woken this way; the grace bounds how long we wait for it).
        for &fd in self.shared.live.lock().values() {
            let _ = nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Both);
        }
        self.shared.wait_for_others(ConnId::MAX, STOP_GRACE);
        Ok(self.shared.stats())
    }

    /// Drops the oldest unfinished handshake, if any.
    fn shed_oldest(&self, pending: &mut std::collections::VecDeque<Pending>) {
        if pending.pop_front().is_some() {
            self.shared.counters.refused.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn signalled(&self) -> bool {
        self.shared
            .config
            .stop_on
            .as_ref()
            .is_some_and(|signals| signals.caught())
    }

    fn parent_gone(&self) -> bool {
        self.shared
            .config
            .parent
            .is_some_and(|parent| nix::unistd::getppid() != parent)
    }

    /// Gives an authenticated connection a thread of its own.
    fn hand_off(&self, p: Pending) {
        let shared = &self.shared;
        shared.live.lock().insert(p.id, p.stream.as_raw_fd());
        let job = Job {
            id: p.id,
            stream: p.stream,
            reader: p.reader,
        };
        let id = job.id;
        let dispatched = Pool::dispatch(
            shared,
            |s: &Shared| &s.pool,
            job,
            "mgr-conn",
            serve_connection,
            |s: &Shared| s.stop.load(Ordering::Acquire),
        );
        if let Err(refused) = dispatched {
            shared.live.lock().remove(&id);
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            if let Some(job) = refused.job {
                tell_unserved(&job.stream, &refused.error);
            }
        }
    }
}

/// Tells an authenticated client that no thread could be made for it, and why —
/// the limit by name when the OS refused (RLIMIT_NPROC) — in place of the reply
/// to its first request, so it reports that rather than a broken pipe. Best
/// effort and never blocking: the connection is closed right after.
fn tell_unserved(stream: &UnixStream, error: &std::io::Error) {
    const DOING: &str = "creating the manager server's thread for this connection";
    let why = if error.raw_os_error() == Some(libc::EAGAIN) {
        crate::sys::process::nproc_refused(DOING)
    } else {
        format!("{DOING}: {error}")
    };
    let mut out = Vec::with_capacity(256);
    if protocol::encode(&Response::Unserved(&why), &mut out, MAX_FRAME).is_ok()
        && stream.set_nonblocking(true).is_ok()
    {
        let _ = frame::send_all(stream, &out);
    }
}

/// Stops a running [`Server`] from elsewhere.
#[derive(Debug, Clone)]
pub struct Stopper(Arc<Shared>);

impl Stopper {
    /// Asks the accept loop to end.
    pub fn stop(&self) {
        self.0.request_stop();
    }
}

impl Shared {
    fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = nix::unistd::write(&self.wake, b"x");
    }

    fn stats(&self) -> ServerStats {
        let merged = self.merged.lock();
        let c = &self.counters;
        ServerStats {
            connections: c.connections.load(Ordering::Relaxed),
            authenticated: c.authenticated.load(Ordering::Relaxed),
            refused: c.refused.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            requests: merged.requests,
            bad_requests: merged.bad_requests,
            uptime_ns: crate::measure::nanos(self.started.elapsed()),
            gil: self
                .gil
                .as_ref()
                .map(|_| ServerGil::pack(&merged.gil, merged.gil_held_ns)),
        }
    }

    /// Waits until `me` is the only live connection, or `grace` passes.
    fn wait_for_others(&self, me: ConnId, grace: Duration) {
        let deadline = Instant::now() + grace;
        let mut live = self.live.lock();
        while live.keys().any(|&id| id != me) {
            if self.ended.wait_until(&mut live, deadline).timed_out() {
                break;
            }
        }
    }
}

/// One connection's thread: the client's `#WELCOME#`, then its requests until it
/// leaves.
fn serve_connection(shared: &Shared, job: Job) {
    let Job {
        id,
        mut stream,
        mut reader,
    } = job;
    // The client has proved it holds the key; it may take its time to accept our
    // proof (ours sends its #WELCOME# with its first request).
    if auth::server_finish(&mut stream, &mut reader).is_ok() {
        shared
            .counters
            .authenticated
            .fetch_add(1, Ordering::Relaxed);
        serve_requests(shared, id, &mut stream, &mut reader);
    } else {
        shared.counters.refused.fetch_add(1, Ordering::Relaxed);
    }
    shared.objects.release_all(id);
    // Off the live list before the socket closes (see `Shared::live`).
    shared.live.lock().remove(&id);
    shared.ended.notify_all();
    drop(stream);
}

/// The request loop of an authenticated connection.
fn serve_requests(shared: &Shared, id: ConnId, stream: &mut UnixStream, reader: &mut FrameReader) {
    let lock = match &shared.gil {
        Some(gil) => Lock::Gil(gil),
        None => Lock::Free,
    };
    let born = Instant::now();
    let mut interp = Interp::new(id as usize, lock, TraceBuf::disabled());
    let (mut requests, mut bad_requests) = (0u64, 0u64);
    let mut out: Vec<u8> = Vec::with_capacity(256);
    // A new Python thread takes the GIL to start running.
    interp.enter();
    loop {
        // `conn.send(reply)` then `conn.recv()`, both with the GIL released. They
        // share one release: between them CPython runs only the loop's own
        // bytecode, and doing nothing after the send lets the client, woken by
        // it, run at once on this CPU instead of being moved to another.
        let exchanged = interp.allow_threads(|| {
            if !out.is_empty() {
                frame::send_all(stream, &out)?;
            }
            reader.wait(stream, MAX_FRAME)
        });
        if let Err(e) = exchanged {
            if !matches!(e, FrameError::Closed) {
                shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            break;
        }
        let payload = reader.take();
        out.clear();
        // Dispatching the request is Python code: at least one call.
        interp.check_point();
        let encoded = match protocol::decode::<Request<'_>>(payload) {
            Ok(Request::Ping) => protocol::encode(&Response::Done, &mut out, MAX_FRAME),
            Ok(Request::Stats) => protocol::encode(
                &Response::Stats(Box::new(shared.stats())),
                &mut out,
                MAX_FRAME,
            ),
            Ok(Request::Shutdown) => {
                // Wait (GIL released) for the other connections to end, so their
                // statistics are merged into what we report; reply, and stop.
                interp.allow_threads(|| shared.wait_for_others(id, SHUTDOWN_GRACE));
                let stats = shared.stats();
                let _ = protocol::encode(&Response::Stats(Box::new(stats)), &mut out, MAX_FRAME);
                let _ = interp.allow_threads(|| frame::send_all(stream, &out));
                shared.request_stop();
                requests += 1;
                break;
            }
            Ok(request) => shared
                .objects
                .serve(id, &request, &mut interp, |r| {
                    protocol::encode(r, &mut out, MAX_FRAME)
                })
                .expect("every other request is about an object"),
            Err(e) => {
                bad_requests += 1;
                let message = format!("bad request: {e}");
                protocol::encode(&Response::Error(&message), &mut out, MAX_FRAME)
            }
        };
        requests += 1;
        if encoded.is_err() {
            // Only a reply over the frame limit gets here; say so instead.
            out.clear();
            let _ = protocol::encode(&Response::Error("reply too large"), &mut out, MAX_FRAME);
        }
    }
    interp.exit();
    let (gil, _) = interp.into_parts();
    let lifetime = crate::measure::nanos(born.elapsed());
    let mut merged = shared.merged.lock();
    merged.requests += requests;
    merged.bad_requests += bad_requests;
    merged.gil_held_ns +=
        lifetime.saturating_sub(gil.waited_ns + gil.released_ns + gil.switch_wait_ns);
    merged.gil.merge(&gil);
}
