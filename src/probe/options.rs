//! The probes' flags → validated plans. Like `plan.rs` for scenarios, this is the
//! only place probe input is checked; every error is an [`InputError`] (exit 2)
//! naming the flag, raised before anything is allocated, forked or measured.

use crate::cli::{CtxswitchArgs, SpawnArgs, ZombieArgs};
use crate::plan::names::{parse_name, Named};
use crate::plan::InputError;
use crate::scenario::duration::parse_duration;
use crate::scenario::size::{human_bytes, parse_size};
use std::time::Duration;
use strum::{Display, IntoStaticStr, VariantArray};

/// A flag error.
pub fn bad(flag: &str, message: impl Into<String>) -> InputError {
    InputError::Flag {
        flag: flag.to_string(),
        message: message.into(),
    }
}

/// Parses a comma-separated list of `kind` names, or returns `all` when it is
/// empty.
fn names<T: Named + PartialEq>(
    flag: &str,
    kind: &str,
    given: &[String],
    all: &[T],
) -> Result<Vec<T>, InputError> {
    if given.is_empty() {
        return Ok(all.to_vec());
    }
    let mut out = Vec::new();
    for name in given {
        let value = parse_name::<T>(name, kind).map_err(|e| bad(flag, e))?;
        if !out.contains(&value) {
            out.push(value);
        }
    }
    Ok(out)
}

/// A `gilbench ctxswitch` probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray, Display)]
#[strum(serialize_all = "kebab-case")]
pub enum Mode {
    /// Two threads hand a token through a futex word.
    ThreadFutex,
    /// Two threads ping-pong a byte over two pipes (`perf bench sched pipe -T`).
    ThreadPipe,
    /// Two processes ping-pong a byte over two pipes (`perf bench sched pipe`).
    ProcessPipe,
    /// Two processes hand a token through a futex in shared memory.
    ProcessFutex,
    /// Two threads ping-pong through two eventfds.
    Eventfd,
    /// Two threads on one CPU take turns with `sched_yield`.
    Yield,
    /// Two threads hand the simulated GIL back and forth, a forced switch each time.
    GilHandoff,
    /// Two coroutines on one event loop take turns with `await asyncio.sleep(0)`:
    /// one thread, no OS switch.
    AsyncioHandoff,
}

impl Mode {
    /// Whether the two sides are processes (forked) rather than threads.
    pub fn is_process(self) -> bool {
        matches!(self, Mode::ProcessPipe | Mode::ProcessFutex)
    }

    /// The `perf bench` command that measures the same thing, if any.
    pub fn perf_equivalent(self) -> Option<&'static str> {
        match self {
            Mode::ProcessPipe => Some("perf bench sched pipe"),
            Mode::ThreadPipe => Some("perf bench sched pipe -T"),
            _ => None,
        }
    }
}

/// Where the two sides of a ctxswitch probe run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray, Display)]
#[strum(serialize_all = "kebab-case")]
pub enum Pin {
    /// Both on one CPU: every hand-off is a context switch on that CPU.
    Same,
    /// On two CPUs: every hand-off wakes a thread on the other CPU.
    Cross,
    /// Wherever the scheduler puts them.
    None,
}

/// A `gilbench spawn` creation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray, Display)]
#[strum(serialize_all = "kebab-case")]
pub enum Method {
    /// `std::thread::spawn` of an empty closure, then join.
    Thread,
    /// Create a simulated subinterpreter (its modules' heap and start-up work,
    /// measured on CPython 3.12/3.13: `workload::xi`), then destroy it.
    Interpreter,
    /// fork, the child `_exit`s at once, waitpid.
    Fork,
    /// clone(CLONE_VM|CLONE_VFORK) + execve of /bin/true, waitpid.
    Vfork,
    /// posix_spawn of /bin/true, waitpid.
    PosixSpawn,
    /// fork + execve of /bin/true, waitpid.
    ForkExec,
    /// fork; the child writes every page of the inherited heap (copy-on-write).
    ForkCow,
}

/// How `gilbench zombie` reaps its children.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, IntoStaticStr, VariantArray, Display)]
#[strum(serialize_all = "kebab-case")]
pub enum Reap {
    /// A blocking waitpid(pid) per child.
    Waitpid,
    /// waitpid(-1, WNOHANG) in a loop until all are reaped.
    WnohangLoop,
    /// Wait for SIGCHLD (a signalfd), then drain with waitpid(-1, WNOHANG).
    Sigchld,
    /// pidfd_open + poll + waitid(P_PIDFD) per child.
    Pidfd,
    /// Do not reap: they stay zombies until gilbench reaps them on its way out.
    None,
}

/// `gilbench ctxswitch`, validated.
#[derive(Debug, Clone)]
pub struct CtxswitchPlan {
    /// Probes, in order.
    pub modes: Vec<Mode>,
    /// Placements, in order.
    pub pins: Vec<Pin>,
    /// Measured round trips per probe.
    pub rounds: u64,
    /// Unmeasured round trips first.
    pub warmup: u64,
    /// Runs of each probe (`--runs`).
    pub runs: u32,
    /// The CPUs this process may use.
    pub cpus: Vec<usize>,
}

/// Runs of each ctxswitch probe without `--runs`.
pub const CTXSWITCH_DEFAULT_RUNS: u32 = crate::plan::Repeats::MIN_RUNS;

/// The most round trips a probe may be asked for (about an hour at 20 µs each).
const MAX_ROUNDS: u64 = 100_000_000;

impl CtxswitchPlan {
    /// Validates `gilbench ctxswitch` flags.
    pub fn from_args(args: &CtxswitchArgs) -> Result<CtxswitchPlan, InputError> {
        let modes = names("--mode", "mode", &args.mode, Mode::VARIANTS)?;
        let pins = names("--pin", "pin", &args.pin, &[Pin::Same, Pin::None])?;
        if args.rounds == 0 || args.rounds > MAX_ROUNDS {
            return Err(bad(
                "--rounds",
                format!("must be between 1 and {MAX_ROUNDS}, not {}", args.rounds),
            ));
        }
        if args.warmup > MAX_ROUNDS {
            return Err(bad("--warmup", format!("must be at most {MAX_ROUNDS}")));
        }
        let cpus = crate::measure::pin::allowed_cpus();
        if pins.contains(&Pin::Cross) && cpus.len() < 2 {
            return Err(bad(
                "--pin",
                format!(
                    "`cross` needs two CPUs, but this process may run on {} (see `taskset -p {}`)",
                    cpus.len(),
                    std::process::id()
                ),
            ));
        }
        let runs = crate::plan::Repeats::from_flags(args.runs, None)?
            .runs
            .unwrap_or(CTXSWITCH_DEFAULT_RUNS);
        Ok(CtxswitchPlan {
            modes,
            pins,
            rounds: args.rounds,
            warmup: args.warmup,
            runs,
            cpus,
        })
    }
}

/// `gilbench spawn`, validated.
#[derive(Debug, Clone)]
pub struct SpawnPlan {
    /// Methods, in order.
    pub methods: Vec<Method>,
    /// Parent heap sizes in bytes, in order.
    pub heaps: Vec<u64>,
    /// Most creations per method and heap size.
    pub iterations: u64,
    /// Time budget per method and heap size (at least a few creations run anyway).
    pub max_time: Duration,
    /// Let the kernel back the heap with transparent huge pages.
    pub huge_pages: bool,
    /// Measured runs of each method and heap size (`--runs`).
    pub runs: u32,
    /// Unmeasured runs before them (`--warmup`).
    pub warmup: u32,
}

/// Runs of each spawn method and heap size without `--runs`.
pub const SPAWN_DEFAULT_RUNS: u32 = crate::plan::Repeats::MIN_RUNS;

impl SpawnPlan {
    /// The most creations one run makes: `--iterations` shared by the runs.
    pub fn iterations_per_run(&self) -> u64 {
        self.iterations.div_ceil(u64::from(self.runs.max(1)))
    }

    /// One run's time budget: `--max-time` shared by the runs.
    pub fn max_time_per_run(&self) -> Duration {
        self.max_time / self.runs.max(1)
    }
}

/// Room left for everything else when checking `--heap` against MemAvailable.
const MEMORY_MARGIN: u64 = 256 << 20;

impl SpawnPlan {
    /// Validates `gilbench spawn` flags, including that the largest heap (twice it
    /// for `fork-cow`, whose child copies every page) fits in available memory.
    pub fn from_args(args: &SpawnArgs) -> Result<SpawnPlan, InputError> {
        let methods = names(
            "--method",
            "method",
            &args.method,
            &[
                Method::Thread,
                Method::Interpreter,
                Method::Fork,
                Method::Vfork,
                Method::PosixSpawn,
                Method::ForkExec,
                Method::ForkCow,
            ],
        )?;
        let mut heaps = Vec::new();
        for text in &args.heap {
            let bytes = parse_size(text).map_err(|e| bad("--heap", e))?;
            if !heaps.contains(&bytes) {
                heaps.push(bytes);
            }
        }
        if heaps.is_empty() {
            heaps.push(0);
        }
        if args.iterations == 0 || args.iterations > 1_000_000 {
            return Err(bad(
                "--iterations",
                format!("must be between 1 and 1000000, not {}", args.iterations),
            ));
        }
        let max_time = parse_duration(&args.max_time).map_err(|e| bad("--max-time", e))?;
        if max_time.is_zero() {
            return Err(bad("--max-time", "must be more than 0"));
        }
        let largest = heaps.iter().copied().max().unwrap_or(0);
        let copies = if methods.contains(&Method::ForkCow) {
            2
        } else {
            1
        };
        let needed = largest.saturating_mul(copies);
        if let Some(available) = crate::measure::procfs::mem_available() {
            if needed.saturating_add(MEMORY_MARGIN) > available {
                let why = if copies == 2 {
                    format!(
                        "{} (the heap, and as much again for the fork-cow child's copy)",
                        human_bytes(needed)
                    )
                } else {
                    human_bytes(needed)
                };
                return Err(bad(
                    "--heap",
                    format!(
                        "{} needs {why}, but only {} is available (MemAvailable in \
                         /proc/meminfo, less {} of headroom); use a smaller size{}",
                        human_bytes(largest),
                        human_bytes(available),
                        human_bytes(MEMORY_MARGIN),
                        if copies == 2 {
                            " or leave out fork-cow (--method)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        let repeats = crate::plan::Repeats::from_flags(args.runs, args.warmup)?;
        Ok(SpawnPlan {
            methods,
            heaps,
            iterations: args.iterations,
            max_time,
            huge_pages: args.huge_pages,
            runs: repeats.runs.unwrap_or(SPAWN_DEFAULT_RUNS),
            warmup: repeats.warmup,
        })
    }
}

/// `gilbench zombie`, validated.
#[derive(Debug, Clone)]
pub struct ZombiePlan {
    /// Children to fork.
    pub children: usize,
    /// How to reap them.
    pub reap: Reap,
    /// Each child forks a grandchild first.
    pub orphans: bool,
    /// Declare gilbench a child subreaper (so orphans come to it).
    pub subreaper: bool,
    /// Keep the zombies on show this long.
    pub hold: Duration,
}

impl ZombiePlan {
    /// Validates `gilbench zombie` flags, including that `--children` (twice that
    /// with `--orphans`) fits under RLIMIT_NPROC and the pid space.
    pub fn from_args(args: &ZombieArgs) -> Result<ZombiePlan, InputError> {
        let reap: Reap = parse_name(&args.reap, "strategy").map_err(|e| bad("--reap", e))?;
        let hold = match &args.hold {
            Some(text) => parse_duration(text).map_err(|e| bad("--hold", e))?,
            None => Duration::ZERO,
        };
        if args.children == 0 {
            return Err(bad("--children", "must be at least 1"));
        }
        if !args.orphans && args.no_subreaper {
            return Err(bad("--no-subreaper", "only makes sense with --orphans"));
        }
        let per_child = if args.orphans { 2 } else { 1 };
        let needed = args.children.saturating_mul(per_child);
        let room = crate::probe::zombie::procfs::process_room();
        if needed > room.available {
            return Err(bad(
                "--children",
                format!(
                    "{} would need {needed} new processes, but {}; use at most {}",
                    args.children,
                    room.why,
                    room.available / per_child
                ),
            ));
        }
        Ok(ZombiePlan {
            children: args.children as usize,
            reap,
            orphans: args.orphans,
            subreaper: !args.no_subreaper,
            hold,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_list_the_valid_ones() {
        assert_eq!(parse_name("process-pipe", "mode"), Ok(Mode::ProcessPipe));
        assert!(parse_name::<Mode>("pipe", "mode")
            .unwrap_err()
            .contains("thread-futex"));
        assert_eq!(
            parse_name("wnohang-loop", "strategy"),
            Ok(Reap::WnohangLoop)
        );
        assert_eq!(parse_name("posix-spawn", "method"), Ok(Method::PosixSpawn));
        assert_eq!(Method::ForkExec.name(), "fork-exec");
    }
}
