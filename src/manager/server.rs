//! The manager server: an accept loop and one thread per client connection.
//!
//! As in CPython's `multiprocessing.managers.Server`: the main thread accepts, and
//! every connection gets its own thread, which runs the authkey handshake and then
//! serves that client's requests one after another until it goes away. With a GIL
//! (`--manager-gil on`, the default) the connection threads share one simulated
//! [`Gil`], exactly as the threads of CPython's manager process share theirs: a
//! request is handled while holding it, and it is released while blocked in
//! `recv`/`send` and in blocking calls (lock acquire, queue get).
//!
//! Robustness: the accepter sends the challenge and hands the socket to a new thread,
//! so a client that never answers only ever blocks its own thread (and is dropped
//! after [`ServerConfig::handshake_timeout`]). Nothing is served before the
//! handshake passes. A frame over [`MAX_FRAME`], a frame cut short, or a peer that
//! vanishes mid-request ends that connection only; an undecodable request is
//! answered with an error. When a connection ends, the locks it held are released.

use super::auth::{self, AuthKey};
use super::frame::{self, FrameError, FrameReader, MAX_FRAME};
use super::objects::{ConnId, Objects};
use super::protocol::{self, Request, Response, ServerGil, ServerStats};
use crate::gil::Gil;
use crate::interp::{GilStats, Interp, Lock};
use crate::trace::TraceBuf;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Stack per connection thread: serving needs little.
const CONN_STACK: usize = 256 * 1024;

/// How long `Shutdown` waits for the other connections to end before replying.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// How long a stopping server waits for its connection threads to end.
const STOP_GRACE: Duration = Duration::from_millis(500);

/// How often the accept loop wakes to check on its parent.
const PARENT_CHECK: Duration = Duration::from_millis(200);

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `Some(switch interval)`: connection threads share a simulated GIL.
    pub gil: Option<Duration>,
    /// A client must finish the handshake within this long.
    pub handshake_timeout: Duration,
    /// Stop when this process is no longer our parent (it died).
    pub parent: Option<nix::unistd::Pid>,
    /// Stop when this flag is set (by a signal handler).
    pub stop_flag: Option<Arc<AtomicBool>>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            gil: Some(Duration::from_millis(5)),
            handshake_timeout: Duration::from_secs(10),
            parent: None,
            stop_flag: None,
        }
    }
}

/// Counters the connection threads add to.
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

/// State the accepter and the connection threads share.
#[derive(Debug)]
struct Shared {
    key: AuthKey,
    config: ServerConfig,
    objects: Objects,
    gil: Option<Gil>,
    counters: Counters,
    merged: Mutex<Merged>,
    /// Live connections (a handle to shut each down), and a signal when one ends.
    live: Mutex<HashMap<ConnId, UnixStream>>,
    ended: Condvar,
    stop: AtomicBool,
    wake: OwnedFd,
    started: Instant,
    pool: Pool,
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

    /// Accepts and serves until a `Shutdown` request, a [`Stopper`], the
    /// [`ServerConfig::stop_flag`], or the death of [`ServerConfig::parent`];
    /// returns the final statistics.
    pub fn run(self) -> std::io::Result<ServerStats> {
        let mut next_id: ConnId = 0;
        loop {
            if self.shared.stop.load(Ordering::Acquire) {
                break;
            }
            let mut fds = [
                PollFd::new(self.listener.as_fd(), PollFlags::POLLIN),
                PollFd::new(self.wake_rx.as_fd(), PollFlags::POLLIN),
            ];
            let timeout = PollTimeout::try_from(PARENT_CHECK).expect("fits");
            match poll(&mut fds, timeout) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => {
                    if self.parent_gone() || self.signalled() {
                        break;
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => return Err(e.into()),
            }
            if fds[1].any().unwrap_or(false) {
                break;
            }
            match self.listener.accept() {
                Ok((stream, _)) => {
                    next_id += 1;
                    self.start_connection(next_id, stream);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                // Out of descriptors, a connection aborted before accept: keep serving.
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        self.shared.stop.store(true, Ordering::Release);
        // Unblock connection threads waiting in recv, and give them a moment to
        // end and merge their statistics (one blocked in a lock or queue wait
        // cannot be woken this way; the grace bounds how long we wait for it).
        for stream in self.shared.live.lock().values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        self.shared.wait_for_others(ConnId::MAX, STOP_GRACE);
        Ok(self.shared.stats())
    }

    fn signalled(&self) -> bool {
        self.shared
            .config
            .stop_flag
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    fn parent_gone(&self) -> bool {
        self.shared
            .config
            .parent
            .is_some_and(|parent| nix::unistd::getppid() != parent)
    }

    /// Sends the challenge at once, then hands the connection to a thread of its own.
    fn start_connection(&self, id: ConnId, stream: UnixStream) {
        let shared = &self.shared;
        shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        let refuse = || {
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
        };
        // The challenge goes out first, so the client computes its answer while we
        // find it a thread. (Accepted sockets are blocking whatever the listener is.)
        let challenge = match auth::new_challenge() {
            Ok(c) => c,
            Err(_) => return refuse(),
        };
        let mut out = Vec::with_capacity(64);
        frame::push(&mut out, &challenge);
        if frame::send_all(&stream, &out).is_err() {
            return refuse();
        }
        let Ok(handle) = stream.try_clone() else {
            return refuse();
        };
        shared.live.lock().insert(id, handle);
        let job = Job {
            id,
            stream,
            challenge,
        };
        if let Err(id) = Pool::dispatch(&self.shared, job) {
            shared.live.lock().remove(&id);
            refuse();
        }
    }
}

/// One accepted connection, waiting for its thread.
struct Job {
    id: ConnId,
    stream: UnixStream,
    challenge: Vec<u8>,
}

/// Threads for connections: each connection has a thread to itself for as long as
/// it lasts, as in CPython; but a thread whose connection ended waits a while for
/// the next one instead of exiting, so connecting does not pay for creating a
/// thread (tens of µs here, more than the whole handshake).
///
/// `idle` counts parked threads nobody has claimed. The accepter claims one (a
/// decrement) before sending it a job; a parked thread that gives up waiting must
/// claim itself the same way before leaving, and if it cannot, a job is on its way
/// to it. So every job sent has a thread to take it.
#[derive(Debug)]
struct Pool {
    idle: AtomicU64,
    jobs: crossbeam::channel::Sender<Job>,
    parked: crossbeam::channel::Receiver<Job>,
}

/// How long a thread whose connection ended waits for another.
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// At most this many threads wait for connections; more leave at once.
const MAX_IDLE: u64 = 16;

fn claim(idle: &AtomicU64) -> bool {
    idle.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

impl Pool {
    fn new() -> Pool {
        let (jobs, parked) = crossbeam::channel::unbounded();
        Pool {
            idle: AtomicU64::new(0),
            jobs,
            parked,
        }
    }

    /// Gives `job` to a parked thread, or to a new one.
    /// On failure (no thread could be made) the connection is closed and its id
    /// returned.
    fn dispatch(shared: &Arc<Shared>, job: Job) -> Result<(), ConnId> {
        let pool = &shared.pool;
        let id = job.id;
        if claim(&pool.idle) {
            return pool.jobs.send(job).map_err(|_| id);
        }
        let shared = Arc::clone(shared);
        std::thread::Builder::new()
            .name("mgr-conn".into())
            .stack_size(CONN_STACK)
            .spawn(move || {
                let (idle, parked) = (&shared.pool.idle, &shared.pool.parked);
                let mut next = Some(job);
                while let Some(job) = next.take() {
                    serve_connection(&shared, job.id, job.stream, &job.challenge);
                    let crowded = idle.fetch_add(1, Ordering::AcqRel) >= MAX_IDLE;
                    if (crowded || shared.stop.load(Ordering::Acquire)) && claim(idle) {
                        break;
                    }
                    next = match parked.recv_timeout(IDLE_WAIT) {
                        Ok(job) => Some(job),
                        // Leave only if we can take ourselves off the idle count;
                        // otherwise a job was promised to us.
                        Err(_) if claim(idle) => None,
                        Err(_) => parked.recv().ok(),
                    };
                }
            })
            .map(drop)
            .map_err(|_| id)
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

/// One connection's thread: handshake, then requests until the client leaves.
fn serve_connection(shared: &Shared, id: ConnId, mut stream: UnixStream, challenge: &[u8]) {
    let mut reader = FrameReader::new();
    let _ = stream.set_read_timeout(Some(shared.config.handshake_timeout));
    let passed =
        auth::server_side_after_challenge(&mut stream, &mut reader, &shared.key, challenge);
    if passed.is_ok() {
        shared
            .counters
            .authenticated
            .fetch_add(1, Ordering::Relaxed);
        serve_requests(shared, id, &mut stream, &mut reader);
    } else {
        shared.counters.refused.fetch_add(1, Ordering::Relaxed);
    }
    shared.objects.release_all(id);
    shared.live.lock().remove(&id);
    shared.ended.notify_all();
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
        // `conn.recv()`: blocking, with the GIL released.
        if let Err(e) = interp.allow_threads(|| reader.wait(stream, MAX_FRAME)) {
            if !matches!(e, FrameError::Closed) {
                shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            break;
        }
        let payload = reader.take();
        out.clear();
        // Dispatching the request is Python code: at least one call.
        interp.check_point();
        let mut shutdown = false;
        let encoded = match protocol::decode::<Request<'_>>(payload) {
            Ok(Request::Ping) => protocol::encode(&Response::Done, &mut out, MAX_FRAME),
            Ok(Request::Stats) => protocol::encode(
                &Response::Stats(Box::new(shared.stats())),
                &mut out,
                MAX_FRAME,
            ),
            Ok(Request::Shutdown) => {
                shutdown = true;
                // Wait (GIL released) for the other connections to end, so their
                // statistics are merged into what we report.
                interp.allow_threads(|| shared.wait_for_others(id, SHUTDOWN_GRACE));
                let stats = shared.stats();
                protocol::encode(&Response::Stats(Box::new(stats)), &mut out, MAX_FRAME)
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
        // `conn.send()`: the GIL is released around the write too.
        let sent = interp.allow_threads(|| frame::send_all(stream, &out));
        if shutdown {
            shared.request_stop();
        }
        if sent.is_err() {
            shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
            break;
        }
        if shutdown {
            break;
        }
    }
    interp.exit();
    let _ = stream.flush();
    let (gil, _) = interp.into_parts();
    let lifetime = crate::measure::nanos(born.elapsed());
    let mut merged = shared.merged.lock();
    merged.requests += requests;
    merged.bad_requests += bad_requests;
    merged.gil_held_ns += lifetime.saturating_sub(gil.waited_ns + gil.released_ns);
    merged.gil.merge(&gil);
}
