//! `gil-handoff`: two threads passing the simulated CPython GIL ([`crate::runtime::gil::Gil`])
//! back and forth, a forced switch every time.
//!
//! Each side, holding the GIL, does what CPython's eval loop does when it sees a
//! drop request: it sets the request (as a waiter would after the switch interval —
//! here at once, so every round is a hand-off), drops the GIL and, with forced
//! switching, sleeps until the other thread has taken it. One round trip is two
//! hand-offs; each costs a condition-variable wake-up plus a context switch or two
//! (the waker waits on `switch_cond` too), which is what a thread switch under the
//! GIL costs CPython beyond the OS's own switch.

use super::transport::Endpoint;
use crate::runtime::gil::{Gil, ThreadId};
use std::cell::Cell;
use std::sync::atomic::Ordering;

/// One thread's side of the hand-off.
#[derive(Debug)]
pub struct GilEndpoint<'g> {
    gil: &'g Gil,
    me: ThreadId,
    holding: Cell<bool>,
}

/// The switch interval the two sides run under. Hand-offs are requested
/// explicitly, so it only bounds how long a waiter sleeps before it re-checks.
pub const INTERVAL: std::time::Duration = std::time::Duration::from_millis(5);

impl<'g> GilEndpoint<'g> {
    /// Both sides; side A (the initiator) starts out holding the GIL.
    pub fn pair(gil: &'g Gil) -> (GilEndpoint<'g>, GilEndpoint<'g>) {
        gil.take(0);
        (
            GilEndpoint {
                gil,
                me: 0,
                holding: Cell::new(true),
            },
            GilEndpoint {
                gil,
                me: 1,
                holding: Cell::new(false),
            },
        )
    }
}

impl Endpoint for GilEndpoint<'_> {
    fn signal(&self) -> std::io::Result<()> {
        self.gil.drop_request().store(true, Ordering::Relaxed);
        self.holding.set(false);
        self.gil.drop(self.me, false);
        Ok(())
    }

    fn wait(&self) -> std::io::Result<()> {
        self.gil.take(self.me);
        self.holding.set(true);
        Ok(())
    }

    fn finish(&self) {
        if self.holding.replace(false) {
            self.gil.drop(self.me, true);
        }
    }

    fn abort(&self) {
        // Leave for good; the other side can then take the GIL. (Its next forced
        // drop would wait for us forever, but a side only aborts on a bug: the GIL
        // calls cannot fail.)
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_off_every_round() {
        let gil = Gil::new(INTERVAL);
        let (a, b) = GilEndpoint::pair(&gil);
        std::thread::scope(|s| {
            s.spawn(move || {
                for _ in 0..200 {
                    b.wait().unwrap();
                    b.signal().unwrap();
                }
                b.finish();
            });
            for _ in 0..200 {
                a.signal().unwrap();
                a.wait().unwrap();
            }
            a.finish();
        });
        // A's initial take, then 200 × (B takes, A takes).
        assert_eq!(gil.switch_number(), 401);
    }
}
