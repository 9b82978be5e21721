//! The supervisor: starts the workers, opens the start line once every one is
//! ready, watches their result pipes, the clock and Ctrl-C — and, however the run
//! ends, leaves no worker behind.
//!
//! It is a single-threaded `poll` loop, so gilbench stays single-threaded for the
//! whole run (which is what makes `fork` safe) and needs no timer thread:
//!
//! | event                              | what the supervisor does                                  |
//! |------------------------------------|-----------------------------------------------------------|
//! | every worker sent its ready byte   | opens the start line (start-up time ends, the run begins) |
//! | `--duration` is up                 | sets `stop`; workers finish their op and report           |
//! | a pipe reaches end-of-file         | decodes the report, reaps the worker (`waitpid`)          |
//! | a worker failed or died            | ends the run: stop, SIGTERM the rest, SIGKILL after 1 s   |
//! | `--timeout` passed                 | the same, naming the workers that had not finished        |
//! | SIGINT or SIGTERM                  | the same, and the run ends as interrupted (exit 130)      |
//! | starting a worker failed           | the same, with the OS error                               |
//!
//! The loop ends only when every started worker's pipe is closed and its exit
//! status is known, i.e. it has been reaped (by us, or by the fork server).

use super::launch::{reap, ExitInfo, Launcher};
use super::memory::{ControlBlock, Memory};
use super::wire::{Report, READY};
use crate::measure::clock;
use crate::plan::{Amount, Plan};
use crate::sys::signal::Interrupts;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag};
use nix::unistd::Pid;
use std::fs::File;
use std::io::Read;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// How long stopped workers get between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(1);

/// How long the fork server gets to report exits once every pipe has closed.
const EXIT_REPORT_GRACE: Duration = Duration::from_secs(2);

/// One worker process, as the supervisor tracks it.
#[derive(Debug)]
pub(super) struct Worker {
    /// Its index.
    pub index: usize,
    /// Its pid.
    pub pid: Pid,
    /// The result pipe, until end-of-file.
    results: Option<File>,
    /// What came through the pipe after the ready byte.
    received: Vec<u8>,
    /// Whether it reached the start line.
    ready: bool,
    /// Its report, once the pipe closed: `None` if it sent none (or garbage).
    pub report: Option<Report>,
    /// How it ended, once reaped.
    pub exit: Option<ExitInfo>,
}

impl Worker {
    fn finished(&self) -> bool {
        self.results.is_none() && self.exit.is_some()
    }

    fn succeeded(&self) -> bool {
        matches!(self.report, Some(Report::Done(_)))
    }

    /// Why it failed, for the error line.
    pub fn failure(&self) -> String {
        let exit = self.exit.unwrap_or(ExitInfo::Unknown);
        match &self.report {
            Some(Report::Failed(message)) => message.clone(),
            Some(Report::Done(_)) => format!("{exit} after reporting"),
            None if self.received.is_empty() => format!("{exit} before reporting"),
            None => format!("{exit}; its report was cut short"),
        }
    }
}

/// How a run ended.
#[derive(Debug)]
pub(super) enum Ending {
    /// Every worker ran to the end and reported.
    Completed,
    /// Starting worker `index` failed.
    LaunchFailed {
        /// The worker that could not start.
        index: usize,
        /// Why.
        error: std::io::Error,
    },
    /// Worker `index` failed, crashed or was killed.
    Failed {
        /// The first worker that failed.
        index: usize,
    },
    /// `--timeout` passed with these workers unfinished.
    TimedOut {
        /// Their indexes.
        workers: Vec<usize>,
    },
    /// SIGINT or SIGTERM.
    Interrupted,
}

/// What the supervisor hands back, with every worker reaped.
#[derive(Debug)]
pub(super) struct Supervised {
    /// How the run ended.
    pub ending: Ending,
    /// The workers that were started, in index order.
    pub workers: Vec<Worker>,
    /// From the first launch until every worker was ready.
    pub startup: Option<Duration>,
    /// When the start line opened, CLOCK_MONOTONIC ns.
    pub start_mono_ns: Option<u64>,
}

/// Runs one `processes` run's workers from launch to reaping.
#[derive(Debug)]
pub(super) struct Supervisor<'a> {
    plan: &'a Plan,
    memory: &'a Memory,
    block: ControlBlock<'a>,
    interrupts: &'a Interrupts,
    launcher: Launcher,
    epoch_mono_ns: u64,
    workers: Vec<Worker>,
    launching: bool,
    launched_at: Instant,
    startup: Option<Duration>,
    start_mono_ns: Option<u64>,
    stop_at: Option<Instant>,
    deadline: Option<Instant>,
    kill_at: Option<Instant>,
    ending: Option<Ending>,
    reporter_gone: bool,
    /// Since when every pipe has been closed while exit reports were missing.
    quiet_since: Option<Instant>,
}

impl<'a> Supervisor<'a> {
    /// A supervisor for `plan`'s workers over `memory`.
    pub fn new(
        plan: &'a Plan,
        memory: &'a Memory,
        interrupts: &'a Interrupts,
        launcher: Launcher,
        epoch_mono_ns: u64,
    ) -> Supervisor<'a> {
        Supervisor {
            plan,
            memory,
            block: ControlBlock::place(&memory.control),
            interrupts,
            launcher,
            epoch_mono_ns,
            workers: Vec::new(),
            launching: true,
            launched_at: Instant::now(),
            startup: None,
            start_mono_ns: None,
            stop_at: None,
            deadline: None,
            kill_at: None,
            ending: None,
            reporter_gone: false,
            quiet_since: None,
        }
    }

    /// Starts every worker, supervises them to the end, reaps them all.
    pub fn run(mut self) -> Supervised {
        let count = self.plan.workload.workers().len();
        self.launched_at = Instant::now();
        self.deadline = self.plan.timeout.map(|t| self.launched_at + t);
        for index in 0..count {
            if self.interrupts.take().is_some() {
                self.end(Ending::Interrupted);
                break;
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.end(Ending::TimedOut {
                    workers: (0..count).collect(),
                });
                break;
            }
            match self
                .launcher
                .launch(self.plan, self.memory, index, self.epoch_mono_ns)
            {
                Ok(started) => self.workers.push(Worker {
                    index,
                    pid: started.pid,
                    results: Some(started.results),
                    received: Vec::new(),
                    ready: false,
                    report: None,
                    exit: None,
                }),
                Err(error) => {
                    self.end(Ending::LaunchFailed { index, error });
                    break;
                }
            }
        }
        self.launching = false;
        self.watch();
        self.launcher.finish();
        self.reap_orphans();
        Supervised {
            ending: self.ending.unwrap_or(Ending::Completed),
            workers: self.workers,
            startup: self.startup,
            start_mono_ns: self.start_mono_ns,
        }
    }

    /// The poll loop, until every started worker is finished.
    fn watch(&mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.collect_exits();
            self.maybe_start();
            if self.workers.iter().all(Worker::finished) {
                // A Ctrl-C reaches the workers and us at once: when their ends are
                // all in, ours may not have been looked at yet.
                if self.interrupts.take().is_some() {
                    self.end(Ending::Interrupted);
                }
                return;
            }
            let now = Instant::now();
            self.on_clock(now);

            let mut fds = vec![PollFd::new(self.interrupts.fd(), PollFlags::POLLIN)];
            let reporter = self.launcher.fd().is_some() && !self.reporter_gone;
            if reporter {
                let fd = self.launcher.fd().expect("checked");
                fds.push(PollFd::new(fd, PollFlags::POLLIN));
            }
            let first_pipe = fds.len();
            let mut watched = Vec::new();
            for (i, w) in self.workers.iter().enumerate() {
                if let Some(pipe) = &w.results {
                    fds.push(PollFd::new(pipe.as_fd(), PollFlags::POLLIN));
                    watched.push(i);
                }
            }
            match poll(&mut fds, self.poll_timeout(now)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                // Out of memory, say: keep going (and reaping) rather than give up.
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
            let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
            let interrupted = ready(&fds[0]);
            let readable: Vec<usize> = watched
                .iter()
                .zip(&fds[first_pipe..])
                .filter(|(_, fd)| ready(fd))
                .map(|(&i, _)| i)
                .collect();
            drop(fds);

            if interrupted && self.interrupts.take().is_some() {
                self.end(Ending::Interrupted);
            }
            for i in readable {
                self.read(i, &mut buf);
            }
        }
    }

    /// Reads what worker `i` sent; at end-of-file, takes its report and reaps it.
    fn read(&mut self, i: usize, buf: &mut [u8]) {
        let worker = &mut self.workers[i];
        let Some(pipe) = &mut worker.results else {
            return;
        };
        let n = match pipe.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(_) => 0,
        };
        if n > 0 {
            let mut data = &buf[..n];
            if !worker.ready && worker.received.is_empty() && data[0] == READY {
                worker.ready = true;
                data = &data[1..];
            }
            worker.received.extend_from_slice(data);
            return;
        }
        worker.results = None;
        worker.report = if worker.received.is_empty() {
            None
        } else {
            Report::decode(&worker.received).ok()
        };
        if self.launcher.reaps_directly() {
            // End-of-file: the worker has exited or is exiting, so this is brief.
            worker.exit = Some(reap(worker.pid));
        }
        if !worker.succeeded() {
            let index = worker.index;
            self.end(Ending::Failed { index });
        }
    }

    /// Exit statuses from the fork server.
    fn collect_exits(&mut self) {
        let (exits, gone) = self.launcher.exits();
        for (index, exit) in exits {
            if let Some(w) = self.workers.iter_mut().find(|w| w.index == index) {
                w.exit = Some(exit);
            }
        }
        if gone && !self.reporter_gone {
            self.reporter_gone = true;
            // No more statuses will come; the workers die with the server.
            if self.ending.is_none() {
                if let Some(w) = self.workers.iter().find(|w| w.exit.is_none()) {
                    let index = w.index;
                    self.end(Ending::Failed { index });
                }
            }
        }
        // Every pipe closed but some exit reports missing for too long: the fork
        // server must have lost track; stop waiting for it.
        let waiting = self.workers.iter().any(|w| w.exit.is_none());
        if self.workers.iter().all(|w| w.results.is_none()) && waiting {
            let since = *self.quiet_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= EXIT_REPORT_GRACE {
                self.reporter_gone = true;
            }
        }
        if self.reporter_gone {
            for w in &mut self.workers {
                if w.results.is_none() && w.exit.is_none() {
                    w.exit = Some(ExitInfo::Unknown);
                }
            }
        }
    }

    /// Opens the start line once every worker is ready.
    fn maybe_start(&mut self) {
        if self.start_mono_ns.is_some() || self.launching || self.ending.is_some() {
            return;
        }
        if self.workers.iter().all(|w| w.ready) {
            let now = Instant::now();
            self.startup = Some(now - self.launched_at);
            self.start_mono_ns = Some(clock::mono_ns());
            self.block.open_gate();
            if let Amount::Duration(d) = self.plan.amount {
                self.stop_at = Some(now + d);
            }
        }
    }

    /// The duration, the timeout and the SIGKILL grace.
    fn on_clock(&mut self, now: Instant) {
        if self.stop_at.is_some_and(|t| now >= t) {
            self.block
                .stop
                .store(1, std::sync::atomic::Ordering::Relaxed);
            self.stop_at = None;
        }
        if self.ending.is_none() && self.deadline.is_some_and(|t| now >= t) {
            let workers = self
                .workers
                .iter()
                .filter(|w| w.report.is_none())
                .map(|w| w.index)
                .collect();
            self.end(Ending::TimedOut { workers });
        }
        if self.kill_at.is_some_and(|t| now >= t) {
            self.signal_running(Signal::SIGKILL);
            self.kill_at = None;
        }
    }

    fn poll_timeout(&self, now: Instant) -> PollTimeout {
        let deadline = self.deadline.filter(|_| self.ending.is_none());
        let reports = self.quiet_since.map(|t| t + EXIT_REPORT_GRACE);
        let next = [self.stop_at, deadline, self.kill_at, reports]
            .into_iter()
            .flatten()
            .min();
        match next {
            None => PollTimeout::NONE,
            Some(t) => {
                let ms = t.saturating_duration_since(now).as_micros().div_ceil(1000);
                PollTimeout::try_from(ms.min(60_000) as i32).unwrap_or(PollTimeout::NONE)
            }
        }
    }

    /// Ends the run early: everyone stops, the living get SIGTERM now and SIGKILL
    /// after [`TERM_GRACE`]. The first reason stands, except that an interruption
    /// overrides any other (the user asked to stop: exit 130).
    fn end(&mut self, reason: Ending) {
        match (&self.ending, &reason) {
            (None, _) => {}
            (Some(Ending::Interrupted), _) => return,
            (Some(_), Ending::Interrupted) => {}
            (Some(_), _) => return,
        }
        let first = self.ending.is_none();
        self.ending = Some(reason);
        if first {
            self.block.stop_all();
            self.signal_running(Signal::SIGTERM);
            self.kill_at = Some(Instant::now() + TERM_GRACE);
        }
    }

    /// Signals every worker whose pipe is still open (so it has surely not been
    /// reaped, and its pid is still its own).
    fn signal_running(&self, sig: Signal) {
        for w in self.workers.iter().filter(|w| w.results.is_some()) {
            let _ = nix::sys::signal::kill(w.pid, sig);
        }
    }

    /// Workers whose fork server died were re-parented to us (we are a child
    /// subreaper) and killed by their death signal: reap them too (waiting a
    /// moment for the re-parenting).
    fn reap_orphans(&mut self) {
        let deadline = Instant::now() + TERM_GRACE;
        for w in &mut self.workers {
            if w.exit != Some(ExitInfo::Unknown) {
                continue;
            }
            // They were killed by their death signal when the server died; and
            // the pid may not be theirs any more if the server did reap them, so
            // it is not ours to signal.
            loop {
                match waitpid(w.pid, Some(WaitPidFlag::WNOHANG)) {
                    Ok(status) => {
                        if let Some(exit) = ExitInfo::from_status(status) {
                            w.exit = Some(exit);
                            break;
                        }
                    }
                    Err(nix::errno::Errno::EINTR) => continue,
                    // Not (yet) re-parented to us.
                    Err(_) => {}
                }
                if Instant::now() >= deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
}
