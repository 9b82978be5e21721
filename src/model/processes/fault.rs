//! Faults injected on purpose, for gilbench's own tests of crash handling.
//!
//! `GILBENCH_TEST_FAULT=INDEX:KIND[,INDEX:KIND…]` makes worker process INDEX of a
//! `processes` run misbehave. It is read only in worker processes, does nothing when
//! unset, and exists so the integration tests can check that a crash, a hang or a
//! silent exit is reported and cleaned up. KIND is one of:
//!
//! | KIND    | what the worker does                                                   |
//! |---------|------------------------------------------------------------------------|
//! | `panic` | panics before the start line                                          |
//! | `exit`  | exits with code 3 before the start line, without a report             |
//! | `kill`  | SIGKILLs itself 100 ms after starting                                 |
//! | `abort` | aborts (SIGABRT) 100 ms after starting                                |
//! | `hang`  | blocks SIGTERM and sleeps forever before the start line (only SIGKILL ends it) |

use nix::sys::signal::{SigSet, Signal};
use std::time::Duration;

/// The environment variable (testing only).
pub const VARIABLE: &str = "GILBENCH_TEST_FAULT";

/// How long `kill` and `abort` let the worker run first.
const DELAY: Duration = Duration::from_millis(100);

/// Applies the fault configured for worker `index`, if any.
pub(super) fn inject(index: usize) {
    let Ok(spec) = std::env::var(VARIABLE) else {
        return;
    };
    let kind = spec.split(',').find_map(|one| {
        let (i, kind) = one.trim().split_once(':')?;
        (i.trim().parse::<usize>().ok()? == index).then(|| kind.trim().to_string())
    });
    match kind.as_deref() {
        Some("panic") => panic!("{VARIABLE}: injected panic in worker {index}"),
        Some("exit") => crate::sys::process::exit_now(3),
        Some("kill") => after(DELAY, || {
            let _ = nix::sys::signal::kill(nix::unistd::getpid(), Signal::SIGKILL);
        }),
        Some("abort") => after(DELAY, || std::process::abort()),
        Some("hang") => {
            let mut term = SigSet::empty();
            term.add(Signal::SIGTERM);
            let _ = term.thread_block();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        _ => {}
    }
}

fn after(delay: Duration, fault: impl FnOnce() + Send + 'static) {
    // Builder, not `thread::spawn`, which panics when RLIMIT_NPROC refuses the
    // thread: the test hook then injects nothing, and the run shows no fault.
    let _ = std::thread::Builder::new().spawn(move || {
        std::thread::sleep(delay);
        fault();
    });
}
