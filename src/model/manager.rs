//! `manager`: worker processes whose shared state lives in a manager server process,
//! as with Python's `multiprocessing.Manager()`.
//!
//! The run is a `processes` run (same launch, supervision, result pipes, start
//! methods, Ctrl-C and timeout handling: [`super::processes::run_as`]) with a
//! server started first:
//!
//! 1. while gilbench is still single-threaded, [`ManagerProcess::start`] makes the
//!    authkey and the private socket directory, binds the socket, forks the server
//!    and times it to its first served request (`manager.startup_ns`);
//! 2. the server's endpoint is written into the shared region's header
//!    ([`crate::manager::home`]), where every worker — forked, spawned or from the
//!    fork server — finds it; each worker connects and authenticates before the
//!    start line, so op latencies are pure round trips;
//! 3. the workers run; every shared-object access is a request/response;
//! 4. the counter is read through the server, the server is shut down (reporting
//!    its own statistics and GIL), reaped, and its directory removed.
//!
//! The row's `gil` is the *server's* GIL (with `--manager-gil on`): each worker
//! process has a GIL of its own that nobody else wants, while the server's
//! connection threads really do contend for theirs. The server's CPU time is added
//! to the row's. If the server dies mid-run, the run fails with one line saying so.
//! If the OS refuses the server its process, or a connection its thread
//! (RLIMIT_NPROC), the one line names the limit: the server tells the client why
//! it closes ([`crate::manager::Response::Unserved`]).

use super::processes;
use super::{ModelRun, RunError};
use crate::manager::process::{describe, ManagerProcess};
use crate::manager::protocol::ServerStats;
use crate::manager::{home, ServerConfig};
use crate::measure::{nanos, Rusage};
use crate::plan::{ModelKind, Plan};
use serde_json::json;
use std::time::Duration;

const MODEL: ModelKind = ModelKind::Manager;

fn os(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> RunError {
    let what = what.into();
    move |source| RunError::Os {
        model: MODEL,
        what,
        source,
    }
}

/// How long a failed run waits for the server's exit to show before blaming the
/// workers: the cost of a failure that was not the server's.
const SERVER_EXIT_GRACE: Duration = Duration::from_millis(250);

/// Runs the plan's workers as processes around a manager server.
pub fn run(plan: &Plan) -> Result<ModelRun, RunError> {
    // Threads of an earlier model may still be exiting; the server is forked, so
    // wait for them (fork checks again, and refuses otherwise).
    crate::sys::process::wait_single_threaded().map_err(os("starting the manager server"))?;
    let config = ServerConfig {
        gil: plan.manager_gil.then_some(plan.gil.switch_interval),
        ..ServerConfig::default()
    };
    let mut manager = ManagerProcess::start(config).map_err(|e| {
        // Only the fork fails with EAGAIN here: RLIMIT_NPROC, named.
        let what = if e.raw_os_error() == Some(libc::EAGAIN) {
            crate::sys::process::nproc_refused("starting the manager server process")
        } else {
            "starting the manager server".into()
        };
        os(what)(e)
    })?;
    let endpoint = manager.endpoint().clone();
    let ran = processes::run_as(plan, MODEL, |region| home::install(region, &endpoint));
    let mut run = match ran {
        Ok(run) => run,
        Err(RunError::Interrupted) => return Err(RunError::Interrupted),
        Err(e) => {
            // A dead server explains every worker's lost connection: say that.
            // (Dropping `manager` kills and reaps the server and removes its
            // directory, whatever happened.)
            if let Some(status) = manager.exited_within(SERVER_EXIT_GRACE) {
                let what = format!(
                    "the manager server process {} mid-run; its workers lost their connections",
                    describe(status)
                );
                return Err(os(what)(std::io::Error::other("manager server gone")));
            }
            return Err(e);
        }
    };
    let startup = manager.startup();
    // The workers were reaped (and their usage counted) inside the run; the server
    // is the only child reaped from here on.
    let before_server = Rusage::children();
    let stats = manager.shutdown().map_err(|e| {
        os(format!("shutting down the manager server: {e}"))(std::io::Error::other(e.to_string()))
    })?;
    run.usage = run.usage + Rusage::children().since(&before_server);
    annotate(&mut run, &stats, startup, plan);
    Ok(run)
}

/// Puts the server's figures into the row: its GIL as the row's `gil`, the rest
/// under `manager`.
fn annotate(run: &mut ModelRun, stats: &ServerStats, startup: Duration, plan: &Plan) {
    if let Some(gil) = &stats.gil {
        run.gil = Some(gil.unpack());
        run.gil_held = Duration::from_nanos(gil.held_ns).min(run.wall);
    } else {
        run.gil = None;
        run.gil_held = Duration::ZERO;
    }
    // The server's GIL is the row's `gil`; the rest of its figures go here.
    let manager = json!({
        "startup_ns": nanos(startup),
        "gil": if plan.manager_gil { "on" } else { "off" },
        "connections": stats.connections,
        "authenticated": stats.authenticated,
        "refused": stats.refused,
        "dropped": stats.dropped,
        "requests": stats.requests,
    });
    run.outcome.extra.insert("manager".into(), manager);
}
