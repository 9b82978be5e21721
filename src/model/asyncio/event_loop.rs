//! The simulated event loop: asyncio's `BaseEventLoop._run_once`, on one thread.
//!
//! As in CPython's `Lib/asyncio/base_events.py`, the loop owns three things:
//!
//! - the **ready queue** (`_ready`): callbacks to run, in order. A coroutine that
//!   awaits `asyncio.sleep(0)` puts its next step at the end (`call_soon`);
//! - the **timer heap** (`_scheduled`): `asyncio.sleep(d)` schedules the next step
//!   at `now + d` (`call_at`);
//! - the **selector**: a coroutine whose socket has nothing to read registers a
//!   reader (`add_reader`). When the selector says readable, the reader callback
//!   runs from the ready queue; it completes the coroutine's future, whose
//!   done-callback (`Task.__wakeup`) is scheduled with `call_soon` in turn: two
//!   trips through the queue, as in asyncio's `sock_recv`.
//!
//! A future that another coroutine completes (an `asyncio.Queue`'s getter or
//! putter) is not the loop's: the coroutine awaiting it is parked
//! ([`Suspended::Parked`]) and the loop forgets it, until the callback that
//! completes the future hands it back ([`Coroutines::take_scheduled`]) and its
//! wake-up is `call_soon`ed — behind everything already ready, one round later,
//! as `Future.set_result` schedules `Task.__wakeup`.
//!
//! One `run_once` waits in the selector (not at all when something is ready, else
//! until the earliest timer, rounded up to a millisecond as `EpollSelector` does),
//! moves readable sockets' readers and expired timers to the ready queue, then runs
//! the callbacks that were ready at that moment — those they schedule wait for the
//! next round. A callback runs a coroutine until its next await: nothing can
//! interrupt it, which is the point of the model.
//!
//! **Loop lag** is how late each callback ran: from the moment it became ready (its
//! `call_soon`, its timer's deadline, the selector's report) to the moment it
//! started. asyncio's debug mode only logs callbacks slower than 100 ms; here
//! every one is recorded.

use crate::measure::{nanos, new_histogram, record, Histogram};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// What a ready callback does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Callback {
    /// Resume the coroutine (`Task.__step` / `__wakeup`).
    Step,
    /// The selector's reader callback: the socket is readable, so complete the
    /// coroutine's future, which schedules its step.
    Reader,
}

/// A ready callback (`asyncio.Handle`).
#[derive(Debug, Clone, Copy)]
struct Handle {
    task: usize,
    callback: Callback,
    ready_at: Instant,
}

/// What a coroutine did when it gave the loop back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suspended {
    /// It is over.
    Finished,
    /// `await asyncio.sleep(0)`.
    Yield,
    /// `await asyncio.sleep(d)`.
    Sleep(Duration),
    /// Waiting for its socket to become readable.
    Readable,
    /// Awaiting a future another coroutine will complete; nothing to do for the
    /// loop until then.
    Parked,
}

/// The coroutines a loop runs: it resumes them and asks about their sockets.
pub trait Coroutines {
    /// Runs coroutine `task` until its next await (a callback); `now` is when the
    /// callback starts.
    fn resume(&mut self, task: usize, now: Instant) -> std::io::Result<Suspended>;

    /// Waits up to `timeout` (`None`: until one is readable) for the sockets of the
    /// coroutines in `readers`; pushes those that are readable onto `readable`.
    fn select(
        &mut self,
        readers: &[usize],
        timeout: Option<Duration>,
        readable: &mut Vec<usize>,
    ) -> std::io::Result<()>;

    /// After a callback: a parked coroutine whose future it completed, and when
    /// (`set_result` → `call_soon(task.__wakeup)`); `None` once there are no more.
    fn take_scheduled(&mut self) -> Option<(usize, Instant)> {
        None
    }
}

/// What one loop did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LoopStats {
    /// Rounds of `_run_once`.
    pub iterations: u64,
    /// Callbacks run (coroutine steps and reader callbacks).
    pub callbacks: u64,
    /// Times the loop waited in the selector (not counting the zero-timeout
    /// polls it skips when no socket is registered).
    pub selects: u64,
    /// Timers that expired (`asyncio.sleep(d)` ends).
    pub timers: u64,
    /// Reader callbacks (a socket became readable).
    pub readers: u64,
    /// Parked coroutines woken because another one completed their future
    /// (`asyncio.Queue`: a getter woken by a put, a putter by a get).
    pub futures: u64,
}

/// The event loop. See the module documentation.
#[derive(Debug)]
pub struct EventLoop {
    ready: VecDeque<Handle>,
    /// (deadline, sequence, task): the sequence keeps equal deadlines in order.
    timers: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    sequence: u64,
    /// Coroutines waiting for their socket.
    readers: Vec<usize>,
    /// Reused between selects.
    readable: Vec<usize>,
    lag: Histogram,
    stats: LoopStats,
}

impl Default for EventLoop {
    fn default() -> Self {
        EventLoop::new()
    }
}

/// The longest select wait without a deadline: the caller looks at its stop
/// conditions at least this often.
const MAX_SELECT: Duration = Duration::from_millis(100);

impl EventLoop {
    /// An empty loop.
    pub fn new() -> EventLoop {
        EventLoop {
            ready: VecDeque::new(),
            timers: BinaryHeap::new(),
            sequence: 0,
            readers: Vec::new(),
            readable: Vec::new(),
            lag: new_histogram(),
            stats: LoopStats::default(),
        }
    }

    /// `loop.call_soon(task.__step)`: runs `task` once everything ready before it has.
    #[inline]
    pub fn call_soon(&mut self, task: usize, now: Instant) {
        self.ready.push_back(Handle {
            task,
            callback: Callback::Step,
            ready_at: now,
        });
    }

    /// `loop.call_at(when, task.__step)`.
    pub fn call_at(&mut self, task: usize, when: Instant) {
        self.sequence += 1;
        self.timers.push(Reverse((when, self.sequence, task)));
    }

    /// `loop.add_reader(sock, …)`: `task` waits for its socket.
    pub fn add_reader(&mut self, task: usize) {
        self.readers.push(task);
    }

    /// Whether nothing is ready, scheduled or waited for: every coroutine is done.
    pub fn is_idle(&self) -> bool {
        self.ready.is_empty() && self.timers.is_empty() && self.readers.is_empty()
    }

    /// How late each callback ran, ns.
    pub fn lag(&self) -> &Histogram {
        &self.lag
    }

    /// What the loop did so far.
    pub fn stats(&self) -> &LoopStats {
        &self.stats
    }

    /// One round of `_run_once`; `until` bounds the selector's wait (a duration's
    /// end, a timeout). Returns the time after the round's last callback.
    pub fn run_once(
        &mut self,
        coroutines: &mut dyn Coroutines,
        until: Option<Instant>,
    ) -> std::io::Result<Instant> {
        self.stats.iterations += 1;
        let mut now = Instant::now();
        let timeout = if !self.ready.is_empty() {
            Some(Duration::ZERO)
        } else if let Some(Reverse((when, _, _))) = self.timers.peek() {
            // EpollSelector.select: `math.ceil(timeout * 1e3) * 1e-3`.
            Some(ceil_ms(when.saturating_duration_since(now)))
        } else {
            None
        };
        // Rounded up too: a sub-millisecond bound would poll with 0 ms, over and over.
        let bound = until.map(|u| ceil_ms(u.saturating_duration_since(now)));
        let timeout = match (timeout, bound) {
            (Some(t), Some(b)) => Some(t.min(b)),
            (t, b) => t.or(b).or(Some(MAX_SELECT)),
        };
        // A zero-timeout poll of no socket tells nothing: skipped, so that the
        // harness's cost per switch stays in tens of ns.
        if !self.readers.is_empty() || timeout != Some(Duration::ZERO) {
            self.stats.selects += 1;
            self.readable.clear();
            coroutines.select(&self.readers, timeout, &mut self.readable)?;
            now = Instant::now();
            for &task in &self.readable {
                self.readers.retain(|&t| t != task);
                self.stats.readers += 1;
                self.ready.push_back(Handle {
                    task,
                    callback: Callback::Reader,
                    ready_at: now,
                });
            }
        }
        while let Some(&Reverse((when, _, task))) = self.timers.peek() {
            if when > now {
                break;
            }
            self.timers.pop();
            self.stats.timers += 1;
            self.ready.push_back(Handle {
                task,
                callback: Callback::Step,
                ready_at: when,
            });
        }
        // Only what is ready now: callbacks scheduled by these run next round.
        for _ in 0..self.ready.len() {
            let Some(handle) = self.ready.pop_front() else {
                break;
            };
            self.stats.callbacks += 1;
            record(
                &mut self.lag,
                nanos(now.saturating_duration_since(handle.ready_at)),
            );
            match handle.callback {
                Callback::Reader => self.call_soon(handle.task, now),
                Callback::Step => {
                    let suspended = coroutines.resume(handle.task, now)?;
                    now = Instant::now();
                    // Completed during the callback: ready before its own next step.
                    while let Some((task, at)) = coroutines.take_scheduled() {
                        self.stats.futures += 1;
                        self.call_soon(task, at);
                    }
                    match suspended {
                        Suspended::Finished | Suspended::Parked => {}
                        Suspended::Yield => self.call_soon(handle.task, now),
                        Suspended::Sleep(d) => self.call_at(handle.task, now + d),
                        Suspended::Readable => self.add_reader(handle.task),
                    }
                }
            }
        }
        Ok(now)
    }
}

/// `d` rounded up to whole milliseconds.
fn ceil_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_nanos().div_ceil(1_000_000) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Coroutines that await a script of suspensions, logging who ran.
    struct Script {
        plans: Vec<Vec<Suspended>>,
        ran: Vec<usize>,
        readable_after: Option<usize>,
    }

    impl Coroutines for Script {
        fn resume(&mut self, task: usize, _now: Instant) -> std::io::Result<Suspended> {
            self.ran.push(task);
            let plan = &mut self.plans[task];
            Ok(if plan.is_empty() {
                Suspended::Finished
            } else {
                plan.remove(0)
            })
        }

        fn select(
            &mut self,
            readers: &[usize],
            timeout: Option<Duration>,
            readable: &mut Vec<usize>,
        ) -> std::io::Result<()> {
            if readers.is_empty() {
                std::thread::sleep(timeout.unwrap_or_default());
            }
            // A socket turns readable once the others have run this many steps.
            if self.ran.len() >= self.readable_after.unwrap_or(usize::MAX) {
                readable.extend_from_slice(readers);
            }
            Ok(())
        }
    }

    fn run(script: &mut Script, tasks: usize) -> EventLoop {
        let mut event_loop = EventLoop::new();
        let now = Instant::now();
        for t in 0..tasks {
            event_loop.call_soon(t, now);
        }
        let mut rounds = 0;
        while !event_loop.is_idle() {
            event_loop.run_once(script, None).unwrap();
            rounds += 1;
            assert!(rounds < 1000, "the loop never went idle");
        }
        event_loop
    }

    #[test]
    fn a_coroutine_that_never_awaits_runs_to_its_end_before_the_next_starts() {
        let mut script = Script {
            plans: vec![vec![], vec![]],
            ran: vec![],
            readable_after: None,
        };
        let event_loop = run(&mut script, 2);
        assert_eq!(script.ran, vec![0, 1]);
        assert_eq!(event_loop.stats().callbacks, 2);
    }

    #[test]
    fn yields_take_turns_through_the_ready_queue() {
        let y = Suspended::Yield;
        let mut script = Script {
            plans: vec![vec![y, y], vec![y, y]],
            ran: vec![],
            readable_after: None,
        };
        let event_loop = run(&mut script, 2);
        assert_eq!(script.ran, vec![0, 1, 0, 1, 0, 1]);
        assert_eq!(event_loop.lag().len(), 6);
        assert_eq!(event_loop.stats().selects, 0, "nothing to select on");
    }

    #[test]
    fn timers_fire_in_deadline_order_and_are_late_not_early() {
        let sleep = |ms| Suspended::Sleep(Duration::from_millis(ms));
        let mut script = Script {
            plans: vec![vec![sleep(3)], vec![sleep(1)]],
            ran: vec![],
            readable_after: None,
        };
        let started = Instant::now();
        let event_loop = run(&mut script, 2);
        assert!(started.elapsed() >= Duration::from_millis(3));
        assert_eq!(script.ran, vec![0, 1, 1, 0]);
        assert_eq!(event_loop.stats().timers, 2);
    }

    /// Task 0 awaits a future; task 1 completes it on its second step.
    struct Handover {
        ran: Vec<usize>,
        steps: [u32; 2],
        scheduled: Option<(usize, Instant)>,
    }

    impl Coroutines for Handover {
        fn resume(&mut self, task: usize, now: Instant) -> std::io::Result<Suspended> {
            self.ran.push(task);
            self.steps[task] += 1;
            Ok(match (task, self.steps[task]) {
                (0, 1) => Suspended::Parked,
                (1, 2) => {
                    self.scheduled = Some((0, now));
                    Suspended::Yield
                }
                (1, 1) => Suspended::Yield,
                _ => Suspended::Finished,
            })
        }

        fn select(
            &mut self,
            _: &[usize],
            _: Option<Duration>,
            _: &mut Vec<usize>,
        ) -> std::io::Result<()> {
            Ok(())
        }

        fn take_scheduled(&mut self) -> Option<(usize, Instant)> {
            self.scheduled.take()
        }
    }

    #[test]
    fn a_completed_future_wakes_its_coroutine_one_round_later_ahead_of_the_completer() {
        let mut handover = Handover {
            ran: vec![],
            steps: [0; 2],
            scheduled: None,
        };
        let mut event_loop = EventLoop::new();
        let now = Instant::now();
        event_loop.call_soon(0, now);
        event_loop.call_soon(1, now);
        let mut rounds = 0;
        while !event_loop.is_idle() {
            event_loop.run_once(&mut handover, None).unwrap();
            rounds += 1;
        }
        // Parked, the loop forgets task 0 until task 1's second step completes
        // its future; its wake-up is queued before task 1's own next step.
        assert_eq!(handover.ran, vec![0, 1, 1, 0, 1]);
        assert_eq!(rounds, 3);
        assert_eq!(event_loop.stats().futures, 1);
        assert_eq!(event_loop.lag().len(), 5);
    }

    #[test]
    fn a_readable_socket_costs_two_trips_through_the_queue() {
        // Task 0 waits for its socket; task 1 yields forever-ish (5 times). The
        // socket turns readable after the first round: the reader callback runs
        // behind task 1's step, and the wakeup it schedules behind the next.
        let y = Suspended::Yield;
        let mut script = Script {
            plans: vec![vec![Suspended::Readable], vec![y, y, y, y, y]],
            ran: vec![],
            readable_after: Some(2),
        };
        let event_loop = run(&mut script, 2);
        assert_eq!(script.ran, vec![0, 1, 1, 1, 0, 1, 1, 1]);
        assert_eq!(event_loop.stats().readers, 1);
    }
}
