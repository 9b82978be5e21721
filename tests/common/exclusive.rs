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

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::path::Path;
use std::sync::Once;

/// The lock file, shared by every test binary built into this target directory.
const LOCK_FILE: &str = "gilbench-tests.lock";

static SUBREAPER: Once = Once::new();

/// Held for a test's whole run; dropping it lets the next one in.
#[derive(Debug)]
pub struct Exclusive {
    _lock: Flock<File>,
}

/// Waits until no other test that called `exclusive` runs (in any test binary of
/// this target directory), and makes this test process a child subreaper, so
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
    super::leftovers::note_temp_entries();
    Exclusive { _lock: lock }
}
