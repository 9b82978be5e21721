//! One test at a time, across test binaries: [`exclusive`].
//!
//! Tests that measure time, or that count "our children" after a run, must not
//! overlap another such test, in this binary or any other. An in-process mutex
//! only keeps a binary's own tests apart, and only while cargo runs the binaries
//! one after another; nextest runs them (and every test) in parallel processes.
//! So the lock is an `flock` on one file in cargo's temporary directory for this
//! target directory: it excludes other threads of this process (each call opens
//! the file afresh, and flock locks belong to the open file) and other test
//! processes alike, and the kernel releases it however the holder ends.
//!
//! What a run leaves in the temporary directory cannot be told apart in a shared
//! `/tmp`: tests that do not hold the lock, other checkouts' suites and other
//! programs write there too. So the holder also gets a private temporary directory
//! of its own, which every gilbench the test starts (through
//! [`super::gilbench`] or [`super::gilbench_process`]) gets as `$TMPDIR`, and
//! which must be empty when [`super::assert_nothing_left`] looks. The lock and
//! the directory belong to the test's thread: that is the test itself under
//! `cargo test` (a thread per test) and under nextest (a process per test).

use nix::fcntl::{Flock, FlockArg};
use std::cell::RefCell;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Once;

/// The lock file, shared by every test binary built into this target directory.
const LOCK_FILE: &str = "gilbench-tests.lock";

static SUBREAPER: Once = Once::new();

thread_local! {
    /// The private temporary directory of the test running on this thread, while
    /// it holds [`exclusive`].
    static PRIVATE_TMP: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// Held for a test's whole run; dropping it removes the test's private temporary
/// directory and lets the next one in.
#[derive(Debug)]
pub struct Exclusive {
    // Fields drop in order: the directory goes before the lock is released.
    _tmp: tempfile::TempDir,
    _lock: Flock<File>,
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        PRIVATE_TMP.with(|tmp| *tmp.borrow_mut() = None);
    }
}

/// The private temporary directory of this thread's test, if it holds
/// [`exclusive`]: the `$TMPDIR` of every gilbench it starts.
pub fn private_tmp() -> Option<PathBuf> {
    PRIVATE_TMP.with(|tmp| tmp.borrow().clone())
}

/// Waits until no other test that called `exclusive` runs (in any test binary of
/// this target directory), gives the test a private temporary directory (see the
/// module documentation), and makes this test process a child subreaper, so
/// anything a gilbench run leaves running becomes our child and
/// [`super::assert_nothing_left`] sees it.
pub fn exclusive() -> Exclusive {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(LOCK_FILE);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let lock = Flock::lock(file, FlockArg::LockExclusive)
        .unwrap_or_else(|(_, e)| panic!("locking {}: {e}", path.display()));
    SUBREAPER.call_once(|| {
        nix::sys::prctl::set_child_subreaper(true).expect("PR_SET_CHILD_SUBREAPER");
    });
    // Short, under the system's temporary directory: the manager's socket path
    // must fit in 107 bytes below it.
    let tmp = tempfile::Builder::new()
        .prefix("gbtest-")
        .tempdir()
        .expect("a private temporary directory");
    PRIVATE_TMP.with(|p| *p.borrow_mut() = Some(tmp.path().to_path_buf()));
    Exclusive {
        _tmp: tmp,
        _lock: lock,
    }
}
