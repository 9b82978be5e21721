//! How busy the machine is: is it quiet enough to measure on?
//!
//! A benchmark run on a machine where something else is computing measures the
//! other thing too. hyperfine and pyperf warn about it; gilbench does the same from
//! what Linux publishes in `/proc`:
//!
//! - `/proc/loadavg`: the 1/5/15-minute load averages (reported, not judged: they
//!   decay over a minute, so they include gilbench's own previous runs);
//! - `/proc/stat`: `procs_running`, the runnable tasks right now, from which the
//!   threads of this process that are running are subtracted; and the machine's CPU
//!   time by kind (user, system, idle, steal, …) since boot, in clock ticks;
//! - `/proc/self/stat`: this process's CPU time and that of its reaped children, in
//!   the same clock ticks, so that the CPU time *others* used between two snapshots is
//!   the machine's busy time minus ours.
//!
//! A [`Snapshot`] is one reading; a [`Load`] is what a series of snapshots says about
//! the interval they span (take one before the first repeat and one after each, or
//! call [`measure`] to watch the machine for a moment). [`Load::busy`] is the judgement.

use serde::Serialize;
use std::time::{Duration, Instant};

/// Steal share at or above which the machine is busy: the hypervisor gave this
/// virtual machine's CPU time to another guest for 1 tick in 20.
pub const BUSY_STEAL_SHARE: f64 = 0.05;

/// Share of the machine's CPU time used by other processes at or above which it is
/// busy: a fifth of the machine (40% of one core on a 2-CPU machine) is enough to
/// take a core from a two-worker run now and then.
pub const BUSY_OTHERS_CPU_SHARE: f64 = 0.20;

/// Fewest clock ticks (all CPUs together) an interval must span before the CPU shares
/// are trusted: at the usual 100 Hz, 20 ticks is 100 ms on two CPUs, a 5% resolution.
const MIN_TICKS: u64 = 20;

/// The machine's CPU time by kind since boot, in clock ticks (the `cpu` line of
/// `/proc/stat`). `guest` time is already inside `user`, so it is not added again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    /// Time computing: user, nice, system, irq, softirq.
    pub busy: u64,
    /// Time idle or waiting for I/O.
    pub idle: u64,
    /// Time the hypervisor ran something else while this guest wanted to run.
    pub steal: u64,
}

impl CpuTicks {
    /// All the time accounted for.
    pub fn total(&self) -> u64 {
        self.busy + self.idle + self.steal
    }
}

/// One reading of the machine's load.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// When it was taken.
    pub taken: Instant,
    /// The 1, 5 and 15-minute load averages.
    pub loadavg: [f64; 3],
    /// Runnable tasks on the machine that are not threads of this process.
    pub others_running: u32,
    /// The machine's CPU time since boot.
    pub cpu: CpuTicks,
    /// This process's CPU time plus that of its reaped children, in clock ticks.
    pub own_ticks: u64,
}

impl Snapshot {
    /// Reads `/proc`. Fails only where `/proc` is missing or unreadable.
    pub fn take() -> std::io::Result<Snapshot> {
        let stat = std::fs::read_to_string("/proc/stat")?;
        let loadavg = std::fs::read_to_string("/proc/loadavg")?;
        let own = std::fs::read_to_string("/proc/self/stat")?;
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        let (cpu, procs_running) = parse_stat(&stat).ok_or_else(|| bad("unreadable /proc/stat"))?;
        Ok(Snapshot {
            taken: Instant::now(),
            loadavg: parse_loadavg(&loadavg).ok_or_else(|| bad("unreadable /proc/loadavg"))?,
            others_running: procs_running.saturating_sub(own_running_threads()),
            cpu,
            own_ticks: parse_own_ticks(&own).ok_or_else(|| bad("unreadable /proc/self/stat"))?,
        })
    }
}

/// What a series of snapshots says about the machine over the interval they span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Load {
    /// The 1, 5 and 15-minute load averages at the first snapshot (before gilbench's
    /// own work; still including any earlier run's, so they are shown, not judged).
    pub loadavg: [f64; 3],
    /// CPUs this process may run on.
    pub cpus: usize,
    /// Snapshots taken.
    pub samples: u32,
    /// Seconds from the first snapshot to the last.
    pub interval_s: f64,
    /// Runnable tasks that were not gilbench's, averaged over the snapshots.
    pub others_running: f64,
    /// The most runnable tasks of others seen in one snapshot.
    pub others_running_max: u32,
    /// Share of the machine's CPU time others used over the interval (0–1), or null
    /// when the interval was too short to tell.
    pub others_cpu_share: Option<f64>,
    /// Share of the machine's CPU time stolen by the hypervisor (0–1), or null.
    pub steal_share: Option<f64>,
    /// [`Load::busy`]'s verdict, for the JSON reader.
    pub busy: bool,
}

impl Load {
    /// Summarises `snapshots` (in the order taken); `None` when there are none.
    pub fn from_snapshots(snapshots: &[Snapshot], cpus: usize) -> Option<Load> {
        let first = snapshots.first()?;
        let last = snapshots.last()?;
        let ticks = last.cpu.total().saturating_sub(first.cpu.total());
        let share =
            |part: u64| (ticks >= MIN_TICKS).then(|| (part as f64 / ticks as f64).clamp(0.0, 1.0));
        let others_busy = (last.cpu.busy.saturating_sub(first.cpu.busy))
            .saturating_sub(last.own_ticks.saturating_sub(first.own_ticks));
        let running: u64 = snapshots.iter().map(|s| u64::from(s.others_running)).sum();
        let mut load = Load {
            loadavg: first.loadavg,
            cpus: cpus.max(1),
            samples: snapshots.len() as u32,
            interval_s: last.taken.duration_since(first.taken).as_secs_f64(),
            others_running: running as f64 / snapshots.len() as f64,
            others_running_max: snapshots
                .iter()
                .map(|s| s.others_running)
                .max()
                .unwrap_or(0),
            others_cpu_share: share(others_busy),
            steal_share: share(last.cpu.steal.saturating_sub(first.cpu.steal)),
            busy: false,
        };
        load.busy = load.busy().is_some();
        Some(load)
    }

    /// Why the machine was too busy to measure on, or `None` when it was quiet.
    ///
    /// The rule, first match wins:
    /// 1. the hypervisor stole at least [`BUSY_STEAL_SHARE`] of the CPU time;
    /// 2. other processes used at least [`BUSY_OTHERS_CPU_SHARE`] of the machine's CPU
    ///    time over the interval (our own threads and reaped children excluded);
    /// 3. only when the interval is too short for rule 2 (under ~100 ms of CPU time):
    ///    on average at least half the CPUs (and at least one) had another runnable task.
    ///
    /// Load averages are not part of it: they decay over minutes and count gilbench's
    /// own runs as load.
    pub fn busy(&self) -> Option<String> {
        let pct = |x: f64| (x * 100.0).round();
        if let Some(steal) = self.steal_share.filter(|&s| s >= BUSY_STEAL_SHARE) {
            return Some(format!(
                "the hypervisor took {}% of the CPU time (steal)",
                pct(steal)
            ));
        }
        match self.others_cpu_share {
            Some(share) if share >= BUSY_OTHERS_CPU_SHARE => Some(format!(
                "other processes used {}% of the CPU time of {} CPUs",
                pct(share),
                self.cpus
            )),
            Some(_) => None,
            None => {
                let half = (self.cpus as f64 / 2.0).max(1.0);
                (self.others_running >= half).then(|| {
                    format!(
                        "{:.1} other tasks were runnable on {} CPUs",
                        self.others_running, self.cpus
                    )
                })
            }
        }
    }
}

/// Collects snapshots over a series of runs: one before the first, one after each.
/// A snapshot that cannot be read (no `/proc`) is skipped, so the load is unknown
/// rather than an error.
#[derive(Debug, Default)]
pub struct Monitor {
    snapshots: Vec<Snapshot>,
}

impl Monitor {
    /// A monitor with a first snapshot taken now.
    pub fn start() -> Monitor {
        let mut m = Monitor::default();
        m.sample();
        m
    }

    /// Takes a snapshot now.
    pub fn sample(&mut self) {
        if let Ok(s) = Snapshot::take() {
            self.snapshots.push(s);
        }
    }

    /// What the snapshots so far say.
    pub fn load(&self) -> Option<Load> {
        Load::from_snapshots(&self.snapshots, cpus())
    }
}

/// Watches the machine for `period` (sleeping, so using no CPU) and says how busy it
/// was; `None` without `/proc`. For suites that decide whether a comparison is
/// conclusive before they run it.
pub fn measure(period: Duration) -> Option<Load> {
    let mut m = Monitor::start();
    let step = period / 4;
    for _ in 0..4 {
        std::thread::sleep(step);
        m.sample();
    }
    m.load()
}

/// CPUs this process may run on.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Threads of this process that are running or runnable (state `R`), the reader
/// included; `/proc/stat`'s `procs_running` counts them too.
fn own_running_threads() -> u32 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 1;
    };
    let running = dir
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|s| thread_state(s) == Some('R'))
        .count() as u32;
    running.max(1)
}

/// The `cpu` line and `procs_running` of `/proc/stat`.
fn parse_stat(text: &str) -> Option<(CpuTicks, u32)> {
    let cpu_line = text.lines().find(|l| l.starts_with("cpu "))?;
    let f: Vec<u64> = cpu_line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq steal [guest guest_nice]; kernels
    // before 2.6.11 stop before steal.
    let at = |i: usize| f.get(i).copied().unwrap_or(0);
    if f.len() < 4 {
        return None;
    }
    let cpu = CpuTicks {
        busy: at(0) + at(1) + at(2) + at(5) + at(6),
        idle: at(3) + at(4),
        steal: at(7),
    };
    let running = text
        .lines()
        .find_map(|l| l.strip_prefix("procs_running"))?
        .trim()
        .parse()
        .ok()?;
    Some((cpu, running))
}

/// The three load averages of `/proc/loadavg`.
fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// The fields of a `/proc/PID/stat` line after the command name, which may itself
/// hold spaces and parentheses: field 3 (state) is the first.
fn after_comm(text: &str) -> Option<Vec<&str>> {
    Some(text[text.rfind(')')? + 1..].split_whitespace().collect())
}

/// The state letter of a `/proc/PID/stat` (or `task/TID/stat`) line.
fn thread_state(text: &str) -> Option<char> {
    after_comm(text)?.first()?.chars().next()
}

/// utime + stime + cutime + cstime (fields 14–17) of a `/proc/PID/stat` line.
fn parse_own_ticks(text: &str) -> Option<u64> {
    let f = after_comm(text)?;
    // Field n sits at index n - 3 once the pid and the command are gone.
    (11..=14).map(|i| f.get(i)?.parse::<u64>().ok()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  46353 765 7631 46576 400 0 38 245 0 0\n\
        cpu0 23251 157 3604 23790 86 0 4 121 0 0\n\
        intr 1 2 3\nctxt 99\nbtime 1\nprocesses 10496\n\
        procs_running 5\nprocs_blocked 0\n";
    const SELF: &str = "10497 (gil bench (x)) R 10488 10488 6577 0 -1 4194304 98 0 0 0 \
        7 3 20 10 20 0 1 0 51241 3133440 359";

    fn snap(at: Instant, busy: u64, idle: u64, steal: u64, own: u64, running: u32) -> Snapshot {
        Snapshot {
            taken: at,
            loadavg: [1.0, 0.5, 0.25],
            others_running: running,
            cpu: CpuTicks { busy, idle, steal },
            own_ticks: own,
        }
    }

    #[test]
    fn parses_canned_proc_text() {
        let (cpu, running) = parse_stat(STAT).unwrap();
        assert_eq!(cpu.busy, 46353 + 765 + 7631 + 38);
        assert_eq!(cpu.idle, 46576 + 400);
        assert_eq!(cpu.steal, 245);
        assert_eq!(running, 5);
        assert_eq!(
            parse_loadavg("1.29 1.11 0.58 5/122 10496\n"),
            Some([1.29, 1.11, 0.58])
        );
        assert_eq!(parse_own_ticks(SELF), Some(7 + 3 + 20 + 10));
        assert_eq!(thread_state(SELF), Some('R'));
        assert_eq!(parse_stat("cpu  1 2\nprocs_running 1\n"), None);
        assert_eq!(parse_stat("cpu  1 2 3 4\n"), None, "no procs_running");
        assert_eq!(parse_loadavg("1.0 x"), None);
        assert_eq!(parse_own_ticks("1 (a) R 1"), None);
    }

    #[test]
    fn reads_this_machine() {
        let s = Snapshot::take().unwrap();
        assert!(s.cpu.total() > 0 && s.loadavg[0] >= 0.0);
        let load = Load::from_snapshots(&[s, s], 2).unwrap();
        assert_eq!(load.others_cpu_share, None, "no time passed");
    }

    #[test]
    fn quiet_interval_is_not_busy() {
        let t = Instant::now();
        // 200 ticks: 30 busy, of which 25 ours; no steal.
        let a = snap(t, 1000, 1000, 0, 50, 0);
        let b = snap(t + Duration::from_secs(1), 1030, 1170, 0, 75, 1);
        let load = Load::from_snapshots(&[a, b], 2).unwrap();
        assert_eq!(load.others_cpu_share, Some(0.025));
        assert_eq!(load.steal_share, Some(0.0));
        assert_eq!(load.others_running, 0.5);
        assert_eq!(load.others_running_max, 1);
        assert!(load.busy().is_none() && !load.busy);
    }

    #[test]
    fn others_cpu_time_makes_it_busy() {
        let t = Instant::now();
        // 200 ticks: 150 busy, 50 of them ours, so others used half the machine.
        let a = snap(t, 1000, 1000, 0, 0, 0);
        let b = snap(t + Duration::from_secs(1), 1150, 1050, 0, 50, 0);
        let load = Load::from_snapshots(&[a, b], 2).unwrap();
        assert_eq!(load.others_cpu_share, Some(0.5));
        let why = load.busy().unwrap();
        assert!(why.contains("50%") && why.contains("2 CPUs"), "{why}");
        assert!(load.busy);
    }

    #[test]
    fn steal_makes_it_busy_first() {
        let t = Instant::now();
        let a = snap(t, 0, 0, 0, 0, 0);
        let b = snap(t, 100, 80, 20, 100, 0);
        let load = Load::from_snapshots(&[a, b], 2).unwrap();
        assert!(load.busy().unwrap().contains("steal"));
    }

    #[test]
    fn short_interval_falls_back_to_runnable_tasks() {
        let t = Instant::now();
        let a = snap(t, 0, 0, 0, 0, 1);
        let b = snap(t, 5, 5, 0, 0, 2);
        let load = Load::from_snapshots(&[a, b], 2).unwrap();
        assert_eq!(load.others_cpu_share, None);
        assert!(load.busy().unwrap().contains("1.5 other tasks"));
        let quiet = Load::from_snapshots(&[snap(t, 0, 0, 0, 0, 0), snap(t, 5, 5, 0, 0, 1)], 4);
        assert!(quiet.unwrap().busy().is_none(), "0.5 of 4 CPUs");
        assert!(Load::from_snapshots(&[], 2).is_none());
    }

    #[test]
    fn own_time_beyond_the_machine_busy_time_is_not_negative() {
        let t = Instant::now();
        let load = Load::from_snapshots(&[snap(t, 0, 0, 0, 0, 0), snap(t, 10, 90, 0, 30, 0)], 1);
        assert_eq!(load.unwrap().others_cpu_share, Some(0.0));
    }
}
