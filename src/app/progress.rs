//! The progress bar on stderr: which model is running, elapsed time, ETA.
//!
//! # The rule: no ticker thread, ever
//!
//! The bar is drawn only from the main thread, and only between models — when a
//! step begins and when it ends — never by indicatif's steady-tick thread
//! (`enable_steady_tick` must not be called). Two reasons:
//!
//! 1. Fork-based models (`processes`, `manager`) call `fork()`, which is sound only
//!    from a single-threaded process (`sys::process::fork` refuses otherwise): a
//!    ticker thread alive at that moment would make every fork-based run fail, or
//!    worse, fork while the ticker holds the terminal's or the allocator's lock.
//! 2. Nothing of ours may run inside the measured region: a redraw every 100 ms
//!    would steal CPU from the workers, and on a 2-core machine that shows.
//!
//! So elapsed and ETA are as of the last model boundary; the message says which
//! model is running now. The bar is hidden when stderr is not a terminal or with
//! `--quiet`, and cleared (drop or [`Progress::finish`]) before the report prints.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;

/// A progress bar over a known number of steps (models, CPython twins).
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar over `steps` steps; hidden with `quiet` or when stderr is no terminal.
    pub fn new(steps: u64, quiet: bool) -> Progress {
        let bar = if quiet || !std::io::stderr().is_terminal() {
            ProgressBar::hidden()
        } else {
            // A high refresh limit so that every explicit draw happens: we draw
            // only at step boundaries, so this bounds nothing in practice.
            ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr_with_hz(100))
        };
        let style = ProgressStyle::with_template(
            "{prefix:.bold} [{bar:20.cyan/blue}] {pos}/{len} {elapsed:>3} (ETA {eta}) {wide_msg}",
        )
        .expect("the template is valid")
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix("gilbench");
        Progress { bar }
    }

    /// A bar that never draws.
    pub fn hidden() -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
        }
    }

    /// A step begins: says what runs now and redraws. Main thread, outside any
    /// measured region.
    pub fn begin(&self, what: impl Into<String>) {
        self.bar.set_message(what.into());
        self.bar.tick();
    }

    /// The step that began is over.
    pub fn end(&self) {
        self.bar.inc(1);
    }

    /// Prints a line above the bar (or plainly when it is hidden and not quiet).
    pub fn println(&self, line: impl AsRef<str>) {
        if self.bar.is_hidden() {
            eprintln!("{}", line.as_ref());
        } else {
            self.bar.println(line);
        }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // An error or an interruption must not leave a half-drawn bar behind.
        self.bar.finish_and_clear();
    }
}
