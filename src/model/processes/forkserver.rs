//! `--start-method forkserver`: a server process, forked while gilbench is still
//! single-threaded, that forks each worker on request — Python's
//! `multiprocessing.forkserver`.
//!
//! Why: `fork()` from a process that has threads is unsafe (the child inherits
//! locks held by threads that do not exist in it), so a program that may have
//! threads by the time it wants workers forks one clean, single-threaded server
//! early and asks *it* to fork. gilbench starts the server right after validating
//! the plan, before any model runs a thread.
//!
//! Protocol, over a `SOCK_SEQPACKET` socketpair (one message per request or reply):
//!
//! * request `Launch { index, epoch, geometry }` with two descriptors attached
//!   (`SCM_RIGHTS`): the run's memory file and the worker's result pipe;
//! * reply `Launched { index, pid }` or `Refused { index, errno }` (fork failed);
//! * later, unprompted, `Exited { index, exit }` once the server has reaped the
//!   worker — the workers are the server's children, not gilbench's, so only the
//!   server can `waitpid` them.
//!
//! The server exits when the socket closes, killing and reaping any worker left; it
//! dies with gilbench (PR_SET_PDEATHSIG), and its workers die with it.

use super::child::{self, Assignment};
use super::launch::ExitInfo;
use super::memory::{Geometry, Memory};
use crate::plan::Plan;
use crate::sys;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

/// A request to the server.
#[derive(Debug, Serialize, Deserialize)]
enum Request {
    /// Fork worker `index`; the memory file and result pipe are attached.
    Launch {
        index: usize,
        epoch_mono_ns: u64,
        geometry: Geometry,
    },
}

/// What the server says.
#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    /// Worker `index` runs as `pid`.
    Launched { index: usize, pid: i32 },
    /// Forking worker `index` failed with `errno`.
    Refused { index: usize, errno: i32 },
    /// Worker `index` ended and was reaped.
    Exited { index: usize, exit: ExitInfo },
}

/// The bytes a message may take.
const MAX_MESSAGE: usize = 1024;

/// How long a server gets to exit after its socket closes before it is killed.
const EXIT_GRACE: Duration = Duration::from_secs(2);

/// gilbench's handle on its fork server.
#[derive(Debug)]
pub(super) struct ForkServer {
    pid: Pid,
    socket: Option<OwnedFd>,
    /// Exit reports that arrived while waiting for a launch reply.
    pending: VecDeque<(usize, ExitInfo)>,
    gone: bool,
}

impl ForkServer {
    /// Forks the server. It holds a copy of `plan`, as Python's server holds the
    /// modules it preloaded.
    pub fn start(plan: &Plan) -> std::io::Result<ForkServer> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let parent = nix::unistd::getpid();
        let ours_raw = ours.as_raw_fd();
        // Relies on: gilbench is single-threaded here (before any model starts a
        // thread; `sys::process::fork` checks), and the server never starts one, so
        // it may fork in turn. In the parent the closure drops `theirs` unrun.
        let pid = sys::process::fork(move || {
            sys::process::close_inherited(&[ours_raw]);
            serve(plan, theirs, parent)
        })?;
        Ok(ForkServer {
            pid,
            socket: Some(ours),
            pending: VecDeque::new(),
            gone: false,
        })
    }

    fn socket(&self) -> std::io::Result<BorrowedFd<'_>> {
        self.socket
            .as_ref()
            .map(|s| s.as_fd())
            .ok_or_else(|| std::io::Error::other("the fork server was shut down"))
    }

    /// Asks the server to fork worker `index`; returns its pid.
    pub fn launch(
        &mut self,
        memory: &Memory,
        index: usize,
        epoch_mono_ns: u64,
        results: OwnedFd,
    ) -> std::io::Result<Pid> {
        let request = postcard::to_stdvec(&Request::Launch {
            index,
            epoch_mono_ns,
            geometry: memory.geometry,
        })
        .expect("a request always serialises");
        sys::fdpass::send(self.socket()?, &request, &[memory.fd(), results.as_fd()])?;
        // The server has its own copy now; ours must close so that end-of-file on
        // the pipe means the worker is gone.
        drop(results);
        loop {
            match self.receive(MsgFlags::empty())? {
                Some(Reply::Launched { pid, .. }) => return Ok(Pid::from_raw(pid)),
                Some(Reply::Refused { errno, .. }) => {
                    return Err(std::io::Error::from_raw_os_error(errno))
                }
                Some(Reply::Exited { index, exit }) => self.pending.push_back((index, exit)),
                None => {
                    self.gone = true;
                    return Err(std::io::Error::other("the fork server exited"));
                }
            }
        }
    }

    /// One reply; `None` at end of stream. With `MSG_DONTWAIT`, `WouldBlock` when
    /// none is waiting.
    fn receive(&mut self, flags: MsgFlags) -> std::io::Result<Option<Reply>> {
        let mut buf = [0u8; MAX_MESSAGE];
        let (len, _fds) = sys::fdpass::recv(self.socket()?, &mut buf, flags)?;
        if len == 0 {
            return Ok(None);
        }
        postcard::from_bytes(&buf[..len])
            .map(Some)
            .map_err(|e| std::io::Error::other(format!("garbled fork server reply: {e}")))
    }

    /// The socket, to poll for exit reports.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.socket().expect("polled only while running")
    }

    /// Exit reports received so far, and whether the server is gone.
    pub fn exits(&mut self) -> (Vec<(usize, ExitInfo)>, bool) {
        let mut exits: Vec<_> = self.pending.drain(..).collect();
        while !self.gone {
            match self.receive(MsgFlags::MSG_DONTWAIT) {
                Ok(Some(Reply::Exited { index, exit })) => exits.push((index, exit)),
                Ok(Some(_)) => {}
                Ok(None) => self.gone = true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => self.gone = true,
            }
        }
        (exits, self.gone)
    }

    /// Closes the socket (the server then kills and reaps what is left and exits)
    /// and reaps the server, killing it if it does not go in time.
    pub fn shut_down(&mut self) {
        if self.socket.take().is_none() {
            return;
        }
        let deadline = Instant::now() + EXIT_GRACE;
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Ok(WaitStatus::StillAlive) => {
                    let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
                    let _ = waitpid(self.pid, None);
                    return;
                }
                Err(nix::errno::Errno::EINTR) => {}
                _ => return,
            }
        }
    }
}

impl Drop for ForkServer {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// The server's main loop; returns its exit code.
fn serve(plan: &Plan, socket: OwnedFd, parent: Pid) -> i32 {
    if sys::process::die_with_parent(parent).is_err() {
        return 1;
    }
    // Ctrl-C goes to the whole process group: the workers die of it, the server
    // stays to reap them and report, like Python's.
    sys::signal::ignore(Signal::SIGINT);
    // SIGCHLD as a readable descriptor, so one poll waits for requests and exits.
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    if mask.thread_block().is_err() {
        return 1;
    }
    let Ok(signals) = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
    else {
        return 1;
    };
    let me = nix::unistd::getpid();
    let mut workers: HashMap<Pid, usize> = HashMap::new();
    'serving: loop {
        let (requests, exits) = {
            let mut fds = [
                PollFd::new(socket.as_fd(), PollFlags::POLLIN),
                PollFd::new(signals.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => break,
            }
            let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
            (ready(&fds[0]), ready(&fds[1]))
        };
        if exits {
            while let Ok(Some(_)) = signals.read_signal() {}
            if report_exits(&socket, &mut workers).is_err() {
                break;
            }
        }
        if requests {
            let mut buf = [0u8; MAX_MESSAGE];
            let (len, mut fds) =
                match sys::fdpass::recv(socket.as_fd(), &mut buf, MsgFlags::empty()) {
                    Ok((0, _)) | Err(_) => break 'serving,
                    Ok(message) => message,
                };
            let Ok(Request::Launch {
                index,
                epoch_mono_ns,
                geometry,
            }) = postcard::from_bytes(&buf[..len])
            else {
                break;
            };
            if fds.len() != 2 {
                break;
            }
            let results = fds.pop().expect("two descriptors");
            let memfd = fds.pop().expect("two descriptors");
            let closing = [socket.as_raw_fd(), signals.as_raw_fd()];
            // Relies on: the server is single-threaded (it starts no thread;
            // `sys::process::fork` checks). In the server the closure drops the two
            // descriptors unrun.
            let launched = sys::process::fork(move || {
                sys::process::close_inherited(&closing);
                if child::enter(me).is_err() {
                    return 1;
                }
                let results = File::from(results);
                let memory = match Memory::open(memfd, geometry) {
                    Ok(memory) => memory,
                    Err(e) => {
                        return child::report_failure(
                            &results,
                            format!("mapping shared memory: {e}"),
                        )
                    }
                };
                child::run(Assignment {
                    plan,
                    index,
                    memory: &memory,
                    epoch_mono_ns,
                    results,
                })
            });
            let reply = match launched {
                Ok(pid) => {
                    workers.insert(pid, index);
                    Reply::Launched {
                        index,
                        pid: pid.as_raw(),
                    }
                }
                Err(e) => Reply::Refused {
                    index,
                    // An error with no errno must not read as a refusal (EAGAIN).
                    errno: e.raw_os_error().unwrap_or(libc::EIO),
                },
            };
            if send(&socket, &reply).is_err() {
                break;
            }
        }
    }
    // gilbench is done with us (or gone): no worker may outlive the server.
    for &pid in workers.keys() {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
    }
    for (pid, _) in workers.drain() {
        while let Err(nix::errno::Errno::EINTR) = waitpid(pid, None) {}
    }
    0
}

fn send(socket: &OwnedFd, reply: &Reply) -> std::io::Result<()> {
    let bytes = postcard::to_stdvec(reply).expect("a reply always serialises");
    sys::fdpass::send(socket.as_fd(), &bytes, &[])
}

/// Reaps every worker that has ended and tells gilbench how.
fn report_exits(socket: &OwnedFd, workers: &mut HashMap<Pid, usize>) -> std::io::Result<()> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(()),
            Ok(status) => {
                let (Some(pid), Some(exit)) = (status.pid(), ExitInfo::from_status(status)) else {
                    continue;
                };
                if let Some(index) = workers.remove(&pid) {
                    send(socket, &Reply::Exited { index, exit })?;
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
