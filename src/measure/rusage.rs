//! CPU time, context switches and faults from `getrusage`, as deltas around a run.

use nix::sys::resource::{getrusage, UsageWho};
use serde::{Deserialize, Serialize};

/// A snapshot of `getrusage` counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rusage {
    user_ns: u64,
    sys_ns: u64,
    voluntary: u64,
    involuntary: u64,
    minor_faults: u64,
}

/// What a run consumed between two snapshots.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RusageDelta {
    /// User CPU time, ns.
    pub cpu_user_ns: u64,
    /// System CPU time, ns.
    pub cpu_sys_ns: u64,
    /// Voluntary context switches (blocked, woke later).
    pub voluntary_ctx_switches: u64,
    /// Involuntary context switches (preempted).
    pub involuntary_ctx_switches: u64,
    /// Minor page faults.
    pub minor_faults: u64,
}

impl Rusage {
    /// This process, all its threads.
    pub fn this_process() -> Rusage {
        Rusage::of(UsageWho::RUSAGE_SELF)
    }

    /// All reaped children of this process.
    pub fn children() -> Rusage {
        Rusage::of(UsageWho::RUSAGE_CHILDREN)
    }

    /// The calling thread only.
    pub fn this_thread() -> Rusage {
        Rusage::of(UsageWho::RUSAGE_THREAD)
    }

    fn of(who: UsageWho) -> Rusage {
        // getrusage only fails for an invalid `who`; these are all valid on Linux.
        let Ok(u) = getrusage(who) else {
            return Rusage::default();
        };
        let ns = |tv: nix::sys::time::TimeVal| {
            (tv.tv_sec() as u64) * 1_000_000_000 + (tv.tv_usec() as u64) * 1000
        };
        Rusage {
            user_ns: ns(u.user_time()),
            sys_ns: ns(u.system_time()),
            voluntary: u.voluntary_context_switches() as u64,
            involuntary: u.involuntary_context_switches() as u64,
            minor_faults: u.minor_page_faults() as u64,
        }
    }

    /// What was consumed since `earlier`.
    pub fn since(&self, earlier: &Rusage) -> RusageDelta {
        RusageDelta {
            cpu_user_ns: self.user_ns.saturating_sub(earlier.user_ns),
            cpu_sys_ns: self.sys_ns.saturating_sub(earlier.sys_ns),
            voluntary_ctx_switches: self.voluntary.saturating_sub(earlier.voluntary),
            involuntary_ctx_switches: self.involuntary.saturating_sub(earlier.involuntary),
            minor_faults: self.minor_faults.saturating_sub(earlier.minor_faults),
        }
    }
}

impl std::ops::Add for RusageDelta {
    type Output = RusageDelta;
    fn add(self, o: RusageDelta) -> RusageDelta {
        RusageDelta {
            cpu_user_ns: self.cpu_user_ns + o.cpu_user_ns,
            cpu_sys_ns: self.cpu_sys_ns + o.cpu_sys_ns,
            voluntary_ctx_switches: self.voluntary_ctx_switches + o.voluntary_ctx_switches,
            involuntary_ctx_switches: self.involuntary_ctx_switches + o.involuntary_ctx_switches,
            minor_faults: self.minor_faults + o.minor_faults,
        }
    }
}
