//! What one probe hit costs, measured on this interpreter.
//!
//! A traced twin's wall time moves by more than the probes' cost from one run
//! to the next (a convoy is a race; a busy machine adds its own), so pairing a
//! traced run with an untraced one says little about the probes themselves.
//! This measures them directly: a loop of `time.sleep(0)`, each of which drops
//! and retakes the GIL (four hits), timed with and without the probes, the two
//! alternated and each side's best kept. The difference over the hits counted is
//! the cost of one hit; a row's hits times that is what tracing added to it.

use super::session::Session;
use super::Probe;
use std::process::{Command, Stdio};

/// Iterations of the loop: ~0.05 s untraced on a 2-vCPU VM.
const LOOPS: u32 = 20_000;
/// A loop that takes longer than this is stopped, and the cost left unmeasured.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(10);
/// Alternations of untraced and traced runs.
const ROUNDS: usize = 3;

/// The loop, in Python that 2.7 and 3.x both read; prints its own time in ns.
/// The thread started first makes Python 2 create its GIL (it has none while a
/// program has one thread; 3.7+ always has one).
const SCRIPT: &str = "import threading, time\n\
threading.Thread(target=lambda: None).start()\n\
t = time.time()\n\
for _ in range(LOOPS): time.sleep(0)\n\
print(int((time.time() - t) * 1e9))\n";

/// One hit's cost in ns, and how many hits one loop iteration made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HitCost {
    /// ns per probe hit (0 if it was lost in the noise).
    pub ns_per_hit: f64,
    /// Hits per `time.sleep(0)`.
    pub hits_per_loop: f64,
}

fn run(probe: &Probe, session: Option<&Session>) -> Option<u64> {
    let script = SCRIPT.replace("LOOPS", &LOOPS.to_string());
    let mut child = Command::new(&probe.executable)
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    if let Some(session) = session {
        session.follow(child.id());
    }
    let mut stdout = child.stdout.take()?;
    // The loop prints one short line at its end: no pipe fills up while we wait.
    let status = crate::cpython::wait::wait(&mut child, Some(LIMIT)).ok()?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut text).ok()?;
    status.success().then(|| text.trim().parse().ok()).flatten()
}

/// Measures the cost of a hit of `probe`'s probes; `None` if any run failed.
pub fn measure(probe: &Probe) -> Option<HitCost> {
    let (mut plain, mut traced, mut hits) = (u64::MAX, u64::MAX, 0usize);
    for _ in 0..ROUNDS {
        plain = plain.min(run(probe, None)?);
        let session = Session::start(&probe.symbols).ok()?;
        let wall = run(probe, Some(&session));
        let got = session.finish();
        traced = traced.min(wall?);
        hits = hits.max(got.hits.len());
    }
    if hits == 0 {
        return None;
    }
    Some(HitCost {
        ns_per_hit: traced.saturating_sub(plain) as f64 / hits as f64,
        hits_per_loop: hits as f64 / LOOPS as f64,
    })
}
