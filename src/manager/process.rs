//! The manager server as a process of its own, started the way CPython's
//! `Manager()` starts it: forked before any worker, from the single-threaded parent.
//!
//! [`ManagerProcess::start`] makes the authkey and the private socket directory,
//! binds the listening socket *in the parent* (so it exists before anyone connects),
//! forks the server, and measures start-up as CPython users feel it: from the call
//! until a first request has been served over an authenticated connection.
//!
//! Cleanup however the run ends:
//! * normal end: [`ManagerProcess::shutdown`] asks the server to stop, reaps it,
//!   and removes the directory;
//! * an error, a timeout, Ctrl-C unwinding the parent: `Drop` kills the server
//!   with SIGKILL, reaps it and removes the directory;
//! * the server killed: the parent's `Drop` (or `shutdown`) reaps it and removes the
//!   directory it could not remove itself;
//! * the parent killed: the server gets SIGTERM (`PR_SET_PDEATHSIG`), and in any
//!   case sees within a fraction of a second that it has been re-parented; it
//!   removes the directory and exits.
//!
//! Like CPython's manager process (bpo-36368) the server does not die of SIGINT: a
//! Ctrl-C reaches the whole process group, and the parent decides when it stops.
//! SIGTERM stops it cleanly.

use super::auth::AuthKey;
use super::client::ClientError;
use super::dir::{self, SocketDir};
use super::protocol::ServerStats;
use super::server::{Server, ServerConfig};
use super::Endpoint;
use crate::sys::signal::Interrupts;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::unix::net::UnixListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A running manager server process, owned by the process that forked it.
#[derive(Debug)]
pub struct ManagerProcess {
    pid: Pid,
    endpoint: Endpoint,
    dir: SocketDir,
    startup: Duration,
    exited: Option<WaitStatus>,
}

/// The server's exit status after a SIGTERM (as a shell reports death by it).
const TERMINATED: i32 = 128 + libc::SIGTERM;

/// How the server process ended, in words (`killed by SIGKILL`, `exited with 3`).
pub fn describe(status: &WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, TERMINATED) => "was stopped by SIGTERM".into(),
        WaitStatus::Exited(_, code) => format!("exited with status {code}"),
        WaitStatus::Signaled(_, signal, _) => format!("was killed by {signal}"),
        other => format!("{other:?}"),
    }
}

impl ManagerProcess {
    /// Forks a server with `config`; the calling process must be single-threaded
    /// (the fork refuses otherwise).
    pub fn start(config: ServerConfig) -> std::io::Result<ManagerProcess> {
        let t0 = Instant::now();
        let key = AuthKey::random()?;
        let dir = SocketDir::create()?;
        let listener = UnixListener::bind(dir.socket_path())?;
        let parent = nix::unistd::getpid();
        let server_key = key.clone();
        let dir_path = dir.path().to_path_buf();
        // Relies on: the caller is single-threaded (checked by `fork`); the child
        // starts its own threads only after the fork.
        let pid = crate::sys::process::fork(move || {
            // Ctrl-C is for the parent to act on; SIGTERM (also sent when the parent
            // dies) stops us cleanly, directory removed.
            crate::sys::signal::ignore(Signal::SIGINT);
            let Ok(terminate) = Interrupts::catch_only(&[Signal::SIGTERM]) else {
                let _ = dir::remove_dir(&dir_path);
                return 1;
            };
            let terminate = Arc::new(terminate);
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM);
            if nix::unistd::getppid() != parent {
                // The parent died before the death signal was armed.
                let _ = dir::remove_dir(&dir_path);
                return 1;
            }
            let config = ServerConfig {
                parent: Some(parent),
                stop_on: Some(Arc::clone(&terminate)),
                ..config
            };
            let code = match Server::with_listener(listener, server_key, config) {
                Ok(server) => match server.run() {
                    Ok(_) if terminate.caught() => TERMINATED,
                    Ok(_) => 0,
                    Err(_) => 1,
                },
                Err(_) => 1,
            };
            let _ = dir::remove_dir(&dir_path);
            code
        })?;
        let mut manager = ManagerProcess {
            pid,
            endpoint: Endpoint {
                path: dir.socket_path(),
                key,
            },
            dir,
            startup: Duration::ZERO,
            exited: None,
        };
        // The parent's copy of the listener was moved into the child's closure and
        // is closed here as that closure's copy is dropped with this frame: only the
        // server holds the listening socket.
        let mut probe = manager.endpoint.connect().map_err(std::io::Error::from)?;
        probe.ping().map_err(std::io::Error::from)?;
        manager.startup = t0.elapsed();
        Ok(manager)
    }

    /// Where workers connect, and the key.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The server's pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// From [`start`](Self::start) being called to the first request served.
    pub fn startup(&self) -> Duration {
        self.startup
    }

    /// How the server ended, if it has (reaping it if so).
    pub fn exited(&mut self) -> Option<&WaitStatus> {
        if self.exited.is_none() {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => {}
                Ok(status) => self.exited = Some(status),
            }
        }
        self.exited.as_ref()
    }

    /// [`ManagerProcess::exited`], waiting up to `grace` for an exit under way: a
    /// killed server's sockets close before it becomes a zombie, so its clients
    /// can notice the death before `waitpid` can (by milliseconds on a busy machine).
    pub fn exited_within(&mut self, grace: Duration) -> Option<&WaitStatus> {
        let until = Instant::now() + grace;
        while self.exited().is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.exited()
    }

    /// Stops the server in order: final statistics, then reap, then remove the
    /// directory. A server that is already gone is an error naming how it ended.
    pub fn shutdown(mut self) -> Result<ServerStats, ClientError> {
        let stats = self.endpoint.connect().and_then(|c| c.shutdown());
        let stats = match stats {
            Ok(stats) => stats,
            Err(e) => {
                // Dead already? Say how it died rather than how the call failed.
                std::thread::sleep(Duration::from_millis(10));
                return Err(match self.exited() {
                    Some(status) => ClientError::Protocol(format!(
                        "the manager server process {}",
                        describe(status)
                    )),
                    None => e,
                });
            }
        };
        self.reap(Duration::from_secs(2));
        Ok(stats)
    }

    /// Waits up to `grace` for the server to exit, then kills it; always reaps.
    fn reap(&mut self, grace: Duration) {
        let deadline = Instant::now() + grace;
        while self.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
        if self.exited.is_none() {
            let _ = kill(self.pid, Signal::SIGKILL);
            if let Ok(status) = waitpid(self.pid, None) {
                self.exited = Some(status);
            }
        }
        let _ = self.dir.remove();
    }
}

impl Drop for ManagerProcess {
    fn drop(&mut self) {
        if self.exited.is_none() {
            let _ = kill(self.pid, Signal::SIGKILL);
            if let Ok(status) = waitpid(self.pid, None) {
                self.exited = Some(status);
            }
        }
        // `self.dir` removes the directory when it drops, right after this.
    }
}
