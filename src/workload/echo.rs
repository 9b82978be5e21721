//! An echo peer for I/O round trips: one end of a socketpair for the worker, the
//! other served by a separate process, as the twins' peer is (`_twin.start_echo_peer`
//! forks a Python process before any thread starts).
//!
//! A process, not a thread of ours, because where the peer runs decides what a
//! round trip costs and so who wins the race for the GIL after it: a reply that
//! comes back before a woken CPU-bound thread has taken the GIL lets the I/O worker
//! take it back at once, and the convoy dissolves. A thread of the same process
//! answered in 4–15 µs where the twin's process takes 8–41 µs, and the simulated
//! convoy, once broken, never formed again where CPython's did.
//!
//! The peer is a fresh gilbench (`/proc/self/exe __echo-peer`): fork and exec at
//! once (`std::process::Command`), which is safe from a process that runs threads,
//! as this one does by the time a worker is prepared. Its socket is its standard
//! input. It says "ready" with one byte once it serves, so the first round trip
//! never includes an exec, and a peer that could not start is an error here, not a
//! hang. It leaves at end-of-file: the worker's end is shut down on drop and the
//! peer reaped, and if gilbench dies first, closing its end does the same (and
//! the kernel kills the peer with its parent thread).

use super::straight;
use crate::runtime::interp::{Interp, Lock};
use crate::runtime::trace::TraceBuf;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The hidden subcommand the peer process runs.
const ECHO_COMMAND: &str = "__echo-peer";

/// The byte a peer sends once it serves.
const READY: u8 = b'!';

/// How long a peer may take to leave after end-of-file before it is killed.
const LEAVE_GRACE: Duration = Duration::from_secs(2);

/// The worker's end of a socketpair whose other end, in a child process, echoes
/// every message.
#[derive(Debug)]
pub struct EchoPeer {
    socket: UnixStream,
    child: Option<Child>,
    message: Vec<u8>,
}

impl EchoPeer {
    /// Starts the peer process and waits until it serves; messages are
    /// `message_bytes` long.
    pub fn new(message_bytes: usize) -> std::io::Result<EchoPeer> {
        EchoPeer::on(message_bytes, None)
    }

    /// [`EchoPeer::new`], with the peer pinned to `cpu` if one is given.
    pub fn on(message_bytes: usize, cpu: Option<usize>) -> std::io::Result<EchoPeer> {
        let (mut socket, theirs) = UnixStream::pair()?;
        // Fork + exec at once (std's Command): safe whatever threads this process
        // runs. Our copy of `theirs` is closed once the child has it.
        let mut command = Command::new("/proc/self/exe");
        command
            .arg(ECHO_COMMAND)
            .args(["--parent", &std::process::id().to_string()]);
        if let Some(cpu) = cpu {
            command.args(["--cpu", &cpu.to_string()]);
        }
        let child = command
            .stdin(Stdio::from(OwnedFd::from(theirs)))
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| match e.raw_os_error() {
                // EAGAIN from fork: the limit, named, not a bare errno.
                Some(libc::EAGAIN) => std::io::Error::new(
                    e.kind(),
                    crate::sys::process::nproc_refused("starting the echo peer process"),
                ),
                _ => e,
            })?;
        let mut peer = EchoPeer {
            socket: socket.try_clone()?,
            child: Some(child),
            message: vec![0x5a; message_bytes],
        };
        let mut ready = [0u8; 1];
        match socket.read(&mut ready) {
            Ok(1) if ready[0] == READY => Ok(peer),
            Ok(_) => {
                let status = peer.reap();
                Err(std::io::Error::other(format!(
                    "the echo peer process did not start ({status})"
                )))
            }
            Err(e) => Err(e),
        }
    }

    /// Sends the message (blocking call).
    pub fn send(&mut self) -> std::io::Result<()> {
        self.socket.write_all(&self.message)
    }

    /// Waits for the reply (blocking call).
    pub fn recv(&mut self) -> std::io::Result<()> {
        self.socket.read_exact(&mut self.message)
    }

    /// Makes the socket non-blocking, as `asyncio`'s `sock_recv` wants it. A
    /// request (at most 64 KiB) still goes out in one `send`: the socket's buffer
    /// holds more.
    pub fn set_nonblocking(&self) -> std::io::Result<()> {
        self.socket.set_nonblocking(true)
    }

    /// Reads what has come of the reply so far (`got` bytes before); whether it is
    /// whole. A non-blocking socket with nothing to read returns `false`.
    pub fn try_recv(&mut self, got: &mut usize) -> std::io::Result<bool> {
        while *got < self.message.len() {
            match self.socket.read(&mut self.message[*got..]) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the echo peer hung up",
                    ))
                }
                Ok(n) => *got += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// The socket, for an event loop's selector.
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Ends the peer (end-of-file) and waits for it; kills it if it lingers.
    /// Says how it ended.
    fn reap(&mut self) -> String {
        let _ = self.socket.shutdown(std::net::Shutdown::Both);
        let Some(mut child) = self.child.take() else {
            return "already reaped".into();
        };
        let deadline = Instant::now() + LEAVE_GRACE;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return status.to_string(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_micros(200))
                }
                _ => {
                    let _ = child.kill();
                    return match child.wait() {
                        Ok(status) => format!("killed: {status}"),
                        Err(e) => format!("not reaped: {e}"),
                    };
                }
            }
        }
    }
}

impl Drop for EchoPeer {
    fn drop(&mut self) {
        self.reap();
    }
}

/// Why this `__echo-peer` was not started by an I/O worker, if it was not: the
/// worker is its parent and hands it a socket on standard input. Anything else is
/// a person (or a script) calling the hidden entry point by hand.
pub fn reached_by_hand(parent: i32) -> Option<&'static str> {
    use std::os::unix::fs::FileTypeExt;
    if nix::unistd::getppid().as_raw() != parent {
        return Some("--parent is not this process's parent");
    }
    let socket = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(std::fs::File::from)
        .and_then(|f| f.metadata())
        .is_ok_and(|m| m.file_type().is_socket());
    if !socket {
        return Some("standard input is not the worker's socket");
    }
    None
}

/// The peer process's whole life (`gilbench __echo-peer`): echo what arrives on
/// standard input (a socket) until end-of-file, like the twins' peer
/// (`recv_into`, then `sendall` of what came), on `cpu` if one is given.
/// Returns the exit code.
pub fn serve(parent: i32, cpu: Option<usize>) -> i32 {
    // Ctrl-C reaches the whole process group: it is the parent's to handle, and
    // the peer leaves at end-of-file (as the twins' peer does).
    crate::sys::signal::ignore(nix::sys::signal::Signal::SIGINT);
    let _ = nix::sys::prctl::set_name(c"echo-peer");
    if crate::sys::process::die_with_parent(nix::unistd::Pid::from_raw(parent)).is_err() {
        return 1;
    }
    if cpu.is_some_and(|cpu| crate::measure::pin::pin_current_thread(cpu).is_err()) {
        return 1;
    }
    let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
        return 1;
    };
    let mut socket = UnixStream::from(fd);
    if socket.write_all(&[READY]).is_err() {
        return 1;
    }
    // The twin's peer is a Python loop; this one runs its bytecodes too, with no
    // GIL to share (the peer is a process of its own, as the twin's is).
    let mut interp = Interp::new(0, Lock::Free, TraceBuf::disabled());
    let mut state = 0;
    let mut buf = vec![0u8; 65536];
    loop {
        straight::run(&mut interp, peer_loop::BEFORE_RECV, &mut state);
        let n = match socket.read(&mut buf) {
            Ok(0) => return 0,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 1,
        };
        straight::run(&mut interp, peer_loop::BEFORE_SEND, &mut state);
        if socket.write_all(&buf[..n]).is_err() {
            return 0;
        }
        straight::run(&mut interp, peer_loop::AFTER_SEND, &mut state);
    }
}

/// The twins' peer loop (`_twin.start_echo_peer`): `n = theirs.recv_into(buf)`,
/// `if n == 0: break`, `theirs.sendall(memoryview(buf)[:n])`, as CPython 3.11's
/// `dis` shows it, cut at its two blocking calls.
mod peer_loop {
    use super::super::straight::Op::{self, Call, Simple};
    use crate::runtime::interp::TickKind::{CheckPoint as C, Fast as F, Plain as P};

    /// Up to `recv_into`'s system call.
    pub(super) const BEFORE_RECV: &[Op] = &[
        Simple(F), // LOAD_FAST theirs
        Simple(P), // LOAD_METHOD recv_into
        Simple(F), // LOAD_FAST buf
        Simple(P), // PRECALL
        Call(F),   // CALL recv_into: its arguments, then the system call
    ];

    /// From `recv_into`'s return up to `sendall`'s system call.
    pub(super) const BEFORE_SEND: &[Op] = &[
        Simple(C), // (CALL recv_into's check point)
        Simple(F), // STORE_FAST n
        Simple(F), // LOAD_FAST n
        Simple(F), // LOAD_CONST 0
        Simple(P), // COMPARE_OP ==
        Simple(F), // POP_JUMP_FORWARD_IF_FALSE
        Simple(F), // LOAD_FAST theirs
        Simple(P), // LOAD_METHOD sendall
        Simple(P), // LOAD_GLOBAL memoryview
        Simple(F), // LOAD_FAST buf
        Simple(P), // PRECALL
        Call(C),   // CALL memoryview(buf)
        Simple(F), // LOAD_CONST None
        Simple(F), // LOAD_FAST n
        Simple(P), // BUILD_SLICE
        Call(P),   // BINARY_SUBSCR: a new memoryview
        Simple(P), // PRECALL
        Call(F),   // CALL sendall: its arguments, then the system call
    ];

    /// After `sendall` returns, back to the top.
    pub(super) const AFTER_SEND: &[Op] = &[
        Simple(C), // (CALL sendall's check point)
        Simple(F), // POP_TOP
        Simple(C), // JUMP_BACKWARD
    ];
}
