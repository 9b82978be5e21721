//! The ways two threads or processes can hand a token back and forth, each
//! blocking while it waits so that every hand-off is a context switch.
//!
//! Every transport gives a pair of [`Endpoint`]s: side A *initiates* (signal, then
//! wait for the token to come back: one round trip, two switches) and side B
//! *responds* (wait, then signal). None of them spins: a side that waits sleeps in
//! the kernel — except `yield`, which by design stays runnable and gives the CPU away.

use crate::sys::futex;
use nix::sys::eventfd::{EfdFlags, EventFd};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU32, Ordering};

/// One side of a ping-pong.
pub trait Endpoint: Send {
    /// Hands the token to the other side.
    fn signal(&self) -> std::io::Result<()>;
    /// Blocks until the token comes back.
    fn wait(&self) -> std::io::Result<()>;
    /// Tells the other side to give up: this side failed. Transports whose other
    /// side notices on its own (a closed pipe reads as end-of-file) do nothing.
    fn abort(&self) {}
    /// This side is done; release what it holds.
    fn finish(&self) {}
}

/// The error a side gets when the other one went away mid-probe.
pub fn gone() -> std::io::Error {
    std::io::Error::other("the other side of the probe went away")
}

/// Token states of the futex and yield transports.
const A_TURN: u32 = 0;
const B_TURN: u32 = 1;
/// Either side failed; whoever sees it stops.
const DEAD: u32 = 2;

/// A token in one 32-bit word (in shared memory for processes); a waiter sleeps in
/// `FUTEX_WAIT` until the word changes, the signaller stores and `FUTEX_WAKE`s —
/// the mechanism under every Linux mutex and condition variable.
#[derive(Debug)]
pub struct FutexEndpoint<'w> {
    word: &'w AtomicU32,
    mine: u32,
    theirs: u32,
}

impl<'w> FutexEndpoint<'w> {
    /// Both sides over `word` (which must start at zero: A's turn).
    pub fn pair(word: &'w AtomicU32) -> (FutexEndpoint<'w>, FutexEndpoint<'w>) {
        word.store(A_TURN, Ordering::Relaxed);
        (
            FutexEndpoint {
                word,
                mine: A_TURN,
                theirs: B_TURN,
            },
            FutexEndpoint {
                word,
                mine: B_TURN,
                theirs: A_TURN,
            },
        )
    }
}

/// Marks a token word dead and wakes whoever sleeps on it.
pub fn abort_word(word: &AtomicU32) {
    word.store(DEAD, Ordering::Release);
    futex::wake(word, u32::MAX);
}

impl Endpoint for FutexEndpoint<'_> {
    fn signal(&self) -> std::io::Result<()> {
        self.word.store(self.theirs, Ordering::Release);
        futex::wake(self.word, 1);
        Ok(())
    }

    fn wait(&self) -> std::io::Result<()> {
        loop {
            let v = self.word.load(Ordering::Acquire);
            if v == self.mine {
                return Ok(());
            }
            if v == DEAD {
                return Err(gone());
            }
            futex::wait(self.word, v, None);
        }
    }

    fn abort(&self) {
        abort_word(self.word);
    }
}

/// Two threads on one CPU taking turns with `sched_yield`: the waiter stays
/// runnable and gives its CPU to the other (the kernel counts these switches as
/// involuntary, since nobody blocked).
#[derive(Debug)]
pub struct YieldEndpoint<'w>(FutexEndpoint<'w>);

impl<'w> YieldEndpoint<'w> {
    /// Both sides over `word`.
    pub fn pair(word: &'w AtomicU32) -> (YieldEndpoint<'w>, YieldEndpoint<'w>) {
        let (a, b) = FutexEndpoint::pair(word);
        (YieldEndpoint(a), YieldEndpoint(b))
    }
}

impl Endpoint for YieldEndpoint<'_> {
    fn signal(&self) -> std::io::Result<()> {
        self.0.word.store(self.0.theirs, Ordering::Release);
        Ok(())
    }

    fn wait(&self) -> std::io::Result<()> {
        loop {
            let v = self.0.word.load(Ordering::Acquire);
            if v == self.0.mine {
                return Ok(());
            }
            if v == DEAD {
                return Err(gone());
            }
            let _ = nix::sched::sched_yield();
        }
    }

    fn abort(&self) {
        self.0.word.store(DEAD, Ordering::Release);
    }
}

/// One byte over a pair of pipes, as `perf bench sched pipe` and lmbench's
/// `lat_ctx` do: the waiter sleeps in `read` until the byte arrives.
#[derive(Debug)]
pub struct PipeEndpoint {
    rx: OwnedFd,
    tx: OwnedFd,
}

impl PipeEndpoint {
    /// Both sides: A writes to B's pipe and reads its own, and vice versa.
    pub fn pair() -> std::io::Result<(PipeEndpoint, PipeEndpoint)> {
        let (a_rx, b_tx) = nix::unistd::pipe().map_err(std::io::Error::from)?;
        let (b_rx, a_tx) = nix::unistd::pipe().map_err(std::io::Error::from)?;
        Ok((
            PipeEndpoint { rx: a_rx, tx: a_tx },
            PipeEndpoint { rx: b_rx, tx: b_tx },
        ))
    }
}

impl Endpoint for PipeEndpoint {
    fn signal(&self) -> std::io::Result<()> {
        loop {
            match nix::unistd::write(&self.tx, b"x") {
                Ok(1) => return Ok(()),
                Ok(_) | Err(nix::errno::Errno::EPIPE) => return Err(gone()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn wait(&self) -> std::io::Result<()> {
        let mut byte = [0u8; 1];
        loop {
            match nix::unistd::read(&self.rx, &mut byte) {
                Ok(1) => return Ok(()),
                Ok(_) => return Err(gone()), // end of file: the writer closed
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// An eventfd counter each way: `write` adds, a blocking `read` sleeps until it is
/// non-zero and resets it. The lightest kernel object that can carry a wake-up.
#[derive(Debug)]
pub struct EventfdEndpoint<'e> {
    mine: &'e EventFd,
    theirs: &'e EventFd,
}

/// An eventfd value no ping-pong reaches: the other side gave up.
const EVENTFD_DEAD: u64 = 1 << 40;

/// The two eventfds of an eventfd pair.
#[derive(Debug)]
pub struct EventfdPair {
    a: EventFd,
    b: EventFd,
}

impl EventfdPair {
    /// Two fresh counters at zero.
    pub fn new() -> std::io::Result<EventfdPair> {
        let new = || EventFd::from_flags(EfdFlags::EFD_CLOEXEC).map_err(std::io::Error::from);
        Ok(EventfdPair {
            a: new()?,
            b: new()?,
        })
    }

    /// Both sides.
    pub fn endpoints(&self) -> (EventfdEndpoint<'_>, EventfdEndpoint<'_>) {
        (
            EventfdEndpoint {
                mine: &self.a,
                theirs: &self.b,
            },
            EventfdEndpoint {
                mine: &self.b,
                theirs: &self.a,
            },
        )
    }
}

impl Endpoint for EventfdEndpoint<'_> {
    fn signal(&self) -> std::io::Result<()> {
        self.theirs.write(1).map(drop).map_err(std::io::Error::from)
    }

    fn wait(&self) -> std::io::Result<()> {
        loop {
            match self.mine.read() {
                Ok(v) if v >= EVENTFD_DEAD => return Err(gone()),
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn abort(&self) {
        let _ = self.theirs.write(EVENTFD_DEAD);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ping_pong<A: Endpoint, B: Endpoint>(a: A, b: B) {
        std::thread::scope(|s| {
            s.spawn(move || {
                for _ in 0..100 {
                    b.wait().unwrap();
                    b.signal().unwrap();
                }
            });
            for _ in 0..100 {
                a.signal().unwrap();
                a.wait().unwrap();
            }
        });
    }

    #[test]
    fn every_transport_ping_pongs() {
        let word = AtomicU32::new(0);
        let (a, b) = FutexEndpoint::pair(&word);
        ping_pong(a, b);
        let (a, b) = YieldEndpoint::pair(&word);
        ping_pong(a, b);
        let (a, b) = PipeEndpoint::pair().unwrap();
        ping_pong(a, b);
        let fds = EventfdPair::new().unwrap();
        let (a, b) = fds.endpoints();
        ping_pong(a, b);
    }

    #[test]
    fn abort_wakes_the_waiter_with_an_error() {
        let word = AtomicU32::new(0);
        let (a, b) = FutexEndpoint::pair(&word);
        std::thread::scope(|s| {
            let waiter = s.spawn(move || b.wait());
            std::thread::sleep(std::time::Duration::from_millis(20));
            a.abort();
            assert!(waiter.join().unwrap().is_err());
        });
        let fds = EventfdPair::new().unwrap();
        let (a, b) = fds.endpoints();
        std::thread::scope(|s| {
            let waiter = s.spawn(move || b.wait());
            a.abort();
            assert!(waiter.join().unwrap().is_err());
        });
        let (a, b) = PipeEndpoint::pair().unwrap();
        drop(a);
        assert!(b.wait().is_err());
    }
}
