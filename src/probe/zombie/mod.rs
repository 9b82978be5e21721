//! `gilbench zombie`: what a zombie is, and how it is reaped.
//!
//! A process that exits does not vanish: the kernel keeps its process-table entry
//! — pid, exit status, resource usage — until its parent collects them with a
//! `wait` call. Until then `ps` shows it in state `Z`, `<defunct>`. This command
//! forks `--children N` that exit at once, shows them from `/proc`, reaps them with
//! the chosen strategy (timing each reap), and shows what is left. Whatever
//! happens — an error, Ctrl-C — gilbench reaps everything it made before it exits.

pub mod orphans;
pub mod procfs;
pub mod reap;

use crate::measure::{nanos, Machine, Summary};
use crate::model::RunError;
use crate::plan::names::Named;
use crate::probe::options::{Reap, ZombiePlan};
use crate::probe::results::{NewParent, OrphanReport, Reparented, ZombieReport};
use crate::sys::signal::Interrupts;
use anyhow::Context;
use nix::unistd::Pid;
use procfs::ProcRow;
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// Rows of the `ps`-like tables kept in the report.
const SAMPLE: usize = 8;

/// Everything this command created, so it can all be let go and reaped.
#[derive(Debug, Default)]
pub struct Brood {
    /// The children, in fork order.
    pub children: Vec<Pid>,
    /// Their children (`--orphans`).
    pub grandchildren: Vec<Pid>,
    /// Children wait for end-of-file here before exiting (`--orphans`).
    pub release: Option<OwnedFd>,
    /// Grandchildren wait for end-of-file here before exiting (`--orphans`).
    pub hold: Option<OwnedFd>,
}

/// Runs the demo, then reaps everything it made, whatever happened.
pub fn run(plan: &ZombiePlan, quiet: bool) -> anyhow::Result<ZombieReport> {
    // Ctrl-C and SIGTERM are noted instead of killing us, so we can reap first.
    let interrupted = Interrupts::catch().context("installing the Ctrl-C handler")?;
    if plan.orphans && plan.subreaper {
        nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    }
    let sigchld = match plan.reap {
        Reap::Sigchld => Some(reap::SigchldFd::new().context("blocking SIGCHLD")?),
        _ => None,
    };
    let mut brood = Brood::default();
    let outcome = demo(plan, &mut brood, sigchld.as_ref(), &interrupted, quiet);
    // Whatever happened: let everyone go and reap everything.
    brood.release = None;
    brood.hold = None;
    let everyone: Vec<Pid> = brood
        .children
        .iter()
        .chain(&brood.grandchildren)
        .copied()
        .collect();
    let reaped_at_exit = reap::reap_everything(&everyone, Duration::from_secs(5));
    drop(sigchld);
    let me = nix::unistd::getpid();
    let zombies_left = procfs::children_of(me)
        .iter()
        .filter(|r| r.state == "Z")
        .count() as u64;
    let mut report = outcome?;
    if interrupted.caught() {
        return Err(RunError::Interrupted.into());
    }
    report.reaped_at_exit += reaped_at_exit;
    report.zombies_left = zombies_left;
    Ok(report)
}

fn check(interrupted: &Interrupts) -> anyhow::Result<()> {
    if interrupted.caught() {
        Err(RunError::Interrupted.into())
    } else {
        Ok(())
    }
}

/// Waits until every child shows as a zombie of `parent`; returns how many do.
fn wait_for_zombies(
    children: &[Pid],
    parent: Pid,
    interrupted: &Interrupts,
) -> anyhow::Result<u64> {
    let deadline = Instant::now()
        + Duration::from_secs(10)
        + Duration::from_micros(500) * children.len() as u32;
    let mut pending: Vec<Pid> = children.to_vec();
    let mut seen = 0u64;
    while !pending.is_empty() {
        check(interrupted)?;
        pending.retain(|pid| match procfs::read(pid.as_raw()) {
            Some(row) if row.state == "Z" && row.ppid == parent.as_raw() => {
                seen += 1;
                false
            }
            Some(_) => true,
            None => false, // gone: reaped by someone else (cannot happen: it is ours)
        });
        if pending.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(seen)
}

fn demo(
    plan: &ZombiePlan,
    brood: &mut Brood,
    sigchld: Option<&reap::SigchldFd>,
    interrupted: &Interrupts,
    quiet: bool,
) -> anyhow::Result<ZombieReport> {
    let me = nix::unistd::getpid();
    let note = |msg: String| {
        if !quiet {
            eprintln!("gilbench: {msg}");
        }
    };
    note(format!(
        "zombie: forking {} children{}…",
        plan.children,
        if plan.orphans {
            " (each forks a grandchild)"
        } else {
            ""
        }
    ));
    let fork_start = Instant::now();
    let mut first_parents = None;
    if plan.orphans {
        orphans::fork_families(plan.children, brood, interrupted)?;
        first_parents = Some(orphans::find_grandchildren(brood, interrupted)?);
        // Grandchildren seen under their first parent: now let the children exit.
        brood.release = None;
    } else {
        for i in 0..plan.children {
            if i % 256 == 0 {
                check(interrupted)?;
            }
            // Relies on: single-threaded (checked by fork). The child exits at once.
            let pid = crate::sys::process::fork(|| 0)
                .with_context(|| format!("forking child {} of {}", i + 1, plan.children))?;
            brood.children.push(pid);
        }
    }
    let fork_ns = nanos(fork_start.elapsed());
    let zombies_seen = wait_for_zombies(&brood.children, me, interrupted)?;
    let sample: Vec<Pid> = brood.children.iter().take(SAMPLE).copied().collect();
    let before = procfs::rows(&sample);
    let orphan_rows = if plan.orphans {
        procfs::rows(&brood.grandchildren)
    } else {
        Vec::new()
    };

    let hold_start = Instant::now();
    if !plan.hold.is_zero() {
        note(format!(
            "holding {zombies_seen} zombies for {:?}; look in another terminal: \
             ps -o pid,ppid,stat,cmd --ppid {me}",
            plan.hold
        ));
        while hold_start.elapsed() < plan.hold {
            check(interrupted)?;
            std::thread::sleep(
                (plan.hold - hold_start.elapsed().min(plan.hold)).min(Duration::from_millis(50)),
            );
        }
    }
    let hold_ns = nanos(hold_start.elapsed());

    note(format!("zombie: reaping with {}…", plan.reap));
    let reaped = reap::reap(plan.reap, &brood.children, sigchld).context("reaping")?;
    let after = procfs::rows(&sample);
    let zombies_after_reap = procfs::rows(&brood.children)
        .iter()
        .filter(|r| r.state == "Z" && r.ppid == me.as_raw())
        .count() as u64;

    let orphans = first_parents.map(|first| orphan_report(plan, brood, &first, &orphan_rows, me));
    Ok(ZombieReport {
        gilbench: crate::cli::VERSION,
        kind: "zombie",
        machine: Machine::current(),
        parent_pid: me.as_raw(),
        strategy: plan.reap.name(),
        children: plan.children as u64,
        zombies_seen,
        zombies_after_reap,
        zombies_left: 0,
        reaped_by_strategy: reaped.reaped,
        reaped_at_exit: 0,
        reap_ns: Summary::of(&reaped.reap_ns),
        reap_total_ns: nanos(reaped.total),
        reap_calls: reaped.calls,
        empty_polls: reaped.empty_polls,
        sigchld_signals: reaped.signals,
        fork_ns,
        hold_ns,
        before,
        after,
        orphans,
    })
}

/// Describes the re-parenting, then lets the grandchildren exit and — when they
/// are ours now — reaps them.
fn orphan_report(
    plan: &ZombiePlan,
    brood: &mut Brood,
    first_parents: &std::collections::HashMap<i32, i32>,
    now: &[ProcRow],
    me: Pid,
) -> OrphanReport {
    let mut by_parent: BTreeMap<i32, u64> = BTreeMap::new();
    for row in now {
        *by_parent.entry(row.ppid).or_default() += 1;
    }
    let new_parents = by_parent
        .iter()
        .map(|(&pid, &orphans)| NewParent {
            pid,
            command: procfs::read(pid).map_or_else(|| "?".into(), |r| r.command),
            orphans,
        })
        .collect();
    let sample = now
        .iter()
        .take(SAMPLE)
        .map(|r| Reparented {
            pid: r.pid,
            ppid_before: first_parents.get(&r.pid).copied().unwrap_or(0),
            ppid_after: r.ppid,
        })
        .collect();
    let ours: Vec<Pid> = now
        .iter()
        .filter(|r| r.ppid == me.as_raw())
        .map(|r| Pid::from_raw(r.pid))
        .collect();
    // Let the grandchildren exit; reap those that are ours now.
    brood.hold = None;
    let mut reaped_by_gilbench = 0;
    for &pid in &ours {
        if nix::sys::wait::waitpid(pid, None).is_ok() {
            reaped_by_gilbench += 1;
        }
    }
    OrphanReport {
        subreaper: plan.subreaper,
        grandchildren: brood.grandchildren.len() as u64,
        reparented_to_gilbench: ours.len() as u64,
        new_parents,
        sample,
        reaped_by_gilbench,
    }
}
