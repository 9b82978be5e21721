//! What a proxied operation costs next to the kernel's floor, and what it costs to
//! connect to and to start a manager.
//!
//! - `round trip/raw unix socket`: 64 bytes there and back between two processes
//!   over a Unix stream socket — the floor no manager can beat;
//! - `round trip/manager value_get` (and `increment`, `dict_get`, GIL on and off):
//!   one proxied op, request to reply, against a server process; target: p50 within
//!   1.3x of the raw round trip under the same pinning;
//! - `connect/handshake`: connect plus the mutual HMAC handshake; target < 60 µs;
//! - `startup/fork to first op`: the manager model's start: authkey, private
//!   directory, bind, fork the server, connect, handshake, first request served;
//!   target < 1 ms.
//!
//! Before criterion runs, the bench prints true per-op percentiles (HdrHistogram,
//! interleaved blocks) for the raw and the proxied round trip and their ratio.
//!
//! Pinned and unpinned (every process inherits the affinity):
//!   taskset -c 0 cargo bench --bench manager
//!   cargo bench --bench manager
//!
//! Helper processes are forked at the start of `main`, while this process is still
//! single-threaded (criterion starts threads later).

use criterion::Criterion;
use gilbench::manager::process::ManagerProcess;
use gilbench::manager::{Client, ServerConfig};
use gilbench::measure::{new_histogram, record, Histogram};
use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

const MESSAGE: usize = 64;

/// A process that echoes 64-byte messages back on a socket pair.
struct Echo {
    stream: UnixStream,
    pid: nix::unistd::Pid,
}

impl Echo {
    fn start() -> Echo {
        let (mine, theirs) = UnixStream::pair().unwrap();
        // Relies on: this process is single-threaded (start of main).
        let mine_fd = mine.as_raw_fd();
        let pid = gilbench::sys::process::fork(move || {
            // The child's copy of our end must go, or it never sees end of file.
            let _ = nix::unistd::close(mine_fd);
            let mut theirs = theirs;
            let mut buf = [0u8; MESSAGE];
            while theirs.read_exact(&mut buf).is_ok() {
                if theirs.write_all(&buf).is_err() {
                    break;
                }
            }
            0
        })
        .unwrap();
        Echo { stream: mine, pid }
    }

    fn round_trip(&mut self, buf: &mut [u8; MESSAGE]) {
        self.stream.write_all(buf).unwrap();
        self.stream.read_exact(buf).unwrap();
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}

/// A single-threaded child that starts (and stops) a manager per request and
/// reports its start-up time: the manager model's own sequence, forked from a
/// single-threaded process as the model does.
struct Starter {
    stream: UnixStream,
    pid: nix::unistd::Pid,
}

impl Starter {
    fn start() -> Starter {
        let (mine, theirs) = UnixStream::pair().unwrap();
        // Relies on: this process is single-threaded (start of main).
        let mine_fd = mine.as_raw_fd();
        let pid = gilbench::sys::process::fork(move || {
            // The child's copy of our end must go, or it never sees end of file.
            let _ = nix::unistd::close(mine_fd);
            let mut theirs = theirs;
            let mut command = [0u8; 1];
            while theirs.read_exact(&mut command).is_ok() {
                let manager = ManagerProcess::start(ServerConfig::default()).unwrap();
                let ns = gilbench::measure::nanos(manager.startup());
                manager.shutdown().unwrap();
                if theirs.write_all(&ns.to_le_bytes()).is_err() {
                    break;
                }
            }
            0
        })
        .unwrap();
        Starter { stream: mine, pid }
    }

    fn startup(&mut self) -> Duration {
        self.stream.write_all(b"s").unwrap();
        let mut ns = [0u8; 8];
        self.stream.read_exact(&mut ns).unwrap();
        Duration::from_nanos(u64::from_le_bytes(ns))
    }
}

impl Drop for Starter {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        let _ = nix::sys::wait::waitpid(self.pid, None);
    }
}

fn summary(name: &str, h: &Histogram) -> String {
    format!(
        "{name:<28} p50 {:>7.2} µs  p90 {:>7.2} µs  p99 {:>7.2} µs  (n={})",
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.9) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        h.len()
    )
}

/// Per-op percentiles, raw and proxied, measured in alternating blocks so that
/// drift on a shared machine hits both alike.
fn percentiles(
    echo: &mut Echo,
    client: &mut Client,
    starter: &mut Starter,
    manager: &ManagerProcess,
) {
    let (mut raw, mut proxied) = (new_histogram(), new_histogram());
    let mut buf = [0u8; MESSAGE];
    for _ in 0..2_000 {
        echo.round_trip(&mut buf);
        black_box(client.value_get("counter").unwrap());
    }
    for _ in 0..40 {
        for _ in 0..500 {
            let t = Instant::now();
            echo.round_trip(&mut buf);
            record(&mut raw, gilbench::measure::nanos(t.elapsed()));
        }
        for _ in 0..500 {
            let t = Instant::now();
            black_box(client.value_get("counter").unwrap());
            record(&mut proxied, gilbench::measure::nanos(t.elapsed()));
        }
    }
    let mut connect = new_histogram();
    for _ in 0..2_000 {
        let t = Instant::now();
        let c = manager.endpoint().connect().unwrap();
        record(&mut connect, gilbench::measure::nanos(t.elapsed()));
        drop(c);
    }
    let mut startup = new_histogram();
    for _ in 0..100 {
        record(&mut startup, gilbench::measure::nanos(starter.startup()));
    }
    let affinity = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Cpus_allowed_list"))
                .map(|l| l.split_whitespace().last().unwrap_or("").to_string())
        })
        .unwrap_or_default();
    eprintln!("\n=== manager bench, CPUs allowed: {affinity} ===");
    eprintln!("{}", summary("raw unix socket round trip", &raw));
    eprintln!("{}", summary("manager value_get", &proxied));
    eprintln!(
        "proxied / raw p50: {:.2}x (target ≤ 1.3x)",
        proxied.value_at_quantile(0.5) as f64 / raw.value_at_quantile(0.5) as f64
    );
    eprintln!("{}", summary("connect + handshake", &connect));
    eprintln!("{}", summary("start-up to first op", &startup));
    eprintln!();
}

fn main() {
    let mut echo = Echo::start();
    let manager = ManagerProcess::start(ServerConfig::default()).unwrap();
    let free = ManagerProcess::start(ServerConfig {
        gil: None,
        ..ServerConfig::default()
    })
    .unwrap();
    let mut starter = Starter::start();

    let mut client = manager.endpoint().connect().unwrap();
    let mut free_client = free.endpoint().connect().unwrap();
    percentiles(&mut echo, &mut client, &mut starter, &manager);

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let mut group = c.benchmark_group("round trip");
        let mut buf = [0u8; MESSAGE];
        group.bench_function("raw unix socket 64 B", |b| {
            b.iter(|| echo.round_trip(&mut buf))
        });
        group.bench_function("manager value_get", |b| {
            b.iter(|| black_box(client.value_get("counter").unwrap()))
        });
        group.bench_function("manager value_increment", |b| {
            b.iter(|| black_box(client.value_increment("counter", 1).unwrap()))
        });
        client.dict_set("d", "key", b"value").unwrap();
        group.bench_function("manager dict_get", |b| {
            b.iter(|| black_box(client.dict_get("d", "key").unwrap().map(|v| v.len())))
        });
        group.bench_function("manager value_get, gil off", |b| {
            b.iter(|| black_box(free_client.value_get("counter").unwrap()))
        });
        group.finish();
    }
    {
        let mut group = c.benchmark_group("connect");
        group.bench_function("handshake", |b| {
            b.iter(|| black_box(manager.endpoint().connect().unwrap()))
        });
        group.finish();
    }
    {
        let mut group = c.benchmark_group("startup");
        group.sample_size(20);
        group.bench_function("fork to first op", |b| {
            b.iter_custom(|iters| (0..iters).map(|_| starter.startup()).sum())
        });
        group.finish();
    }
    c.final_summary();
    drop((client, free_client));
    let _ = manager.shutdown();
    let _ = free.shutdown();
}
