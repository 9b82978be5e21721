//! A gilbench run in the background, to be signalled or killed mid-run: the one
//! place the tests start such a run, wait for the moment to strike, and wait for
//! its end. Every wait is bounded by [`BOUND`]; a run that outlives it is killed
//! and reaped before the test fails, so a test neither hangs nor leaves a process
//! for the next one.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::Read;
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a run may take to reach the point a test waits for, or to end once
/// told: far more than any run needs, however busy the machine.
pub const BOUND: Duration = Duration::from_secs(60);

/// Starts `gilbench ARGS` (see [`super::gilbench_process`]) with stdout
/// discarded and stderr kept for [`finish`].
pub fn start(args: &[&str]) -> Child {
    super::gilbench_process()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gilbench starts")
}

/// Polls `ready` until it holds (`true`) or `child` has ended (`false`). Past
/// [`BOUND`] the child is killed and reaped and the test fails, saying `what`
/// never happened.
pub fn wait_for(child: &mut Child, what: &str, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + BOUND;
    loop {
        if ready() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: not within {BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The exit status of `child` if it ends within `limit` (it is reaped then).
pub fn ended_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `signal` to `child` (gilbench itself, not its process group).
pub fn signal(child: &Child, signal: Signal) -> nix::Result<()> {
    kill(Pid::from_raw(child.id() as i32), signal)
}

/// Waits (within [`BOUND`]) for `child` to end; its status and its whole
/// stderr, `so_far` (what the test already read of it) first. Past the bound it
/// is killed and reaped and the test fails, naming `what`.
pub fn finish(mut child: Child, so_far: String, what: &str) -> (ExitStatus, String) {
    let Some(status) = ended_within(&mut child, BOUND) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what}: still running {BOUND:?} later");
    };
    let mut stderr = so_far;
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    (status, stderr)
}
