//! What an atomic increment in shared memory costs between processes, beside the
//! same increment between threads (target: processes within 2x of threads).
//!
//! Two workers increment counters in a `MAP_SHARED` region — as forked processes,
//! and as threads — either one shared counter (contended: the cache line bounces
//! between the cores, as in `shared-counter --set sync=atomic`) or one counter each
//! on its own cache line (uncontended). The workers are started once, before
//! criterion runs (the processes are forked while this bench is single-threaded),
//! each pinned to its own CPU,
//! and each sample is one job: both workers do `iters` increments at once. A
//! sample's time divided by `iters` is the cost of one increment per worker.
//!
//! Run alone: `cargo bench --bench shm_atomic`.

use criterion::{Criterion, Throughput};
use gilbench::measure::pin;
use gilbench::runtime::shm::SharedRegion;
use gilbench::sys::{futex, process};
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const WORKERS: usize = 2;

/// The job board, in shared memory.
struct Board<'r> {
    /// Bumped to post a job (a futex word).
    generation: &'r AtomicU32,
    /// Workers done with the current job (a futex word).
    done: &'r AtomicU32,
    iters: &'r AtomicU64,
    contended: &'r AtomicU32,
    quit: &'r AtomicU32,
    shared: &'r AtomicU64,
    own: Vec<&'r AtomicU64>,
}

impl<'r> Board<'r> {
    fn region() -> SharedRegion {
        SharedRegion::new(64 * 1024).expect("mapping shared memory")
    }

    fn place(region: &'r SharedRegion) -> Board<'r> {
        let mut layout = region.layout();
        Board {
            generation: layout.place(),
            done: layout.place(),
            iters: layout.place(),
            contended: layout.place(),
            quit: layout.place(),
            shared: layout.place(),
            own: (0..WORKERS).map(|_| layout.place()).collect(),
        }
    }

    /// A worker's life: wait for a job, do it, report, until told to quit.
    fn serve(&self, me: usize) {
        // Each worker on its own CPU, in both models, so a contended counter
        // really bounces between two cores rather than taking turns on one.
        let cpus = pin::allowed_cpus();
        if cpus.len() >= WORKERS {
            let _ = pin::pin_current_thread(cpus[me]);
        }
        let mut seen = 0;
        loop {
            while self.generation.load(Ordering::Acquire) == seen {
                futex::wait(self.generation, seen, None);
            }
            seen = self.generation.load(Ordering::Acquire);
            if self.quit.load(Ordering::Acquire) != 0 {
                return;
            }
            let counter = if self.contended.load(Ordering::Relaxed) != 0 {
                self.shared
            } else {
                self.own[me]
            };
            for _ in 0..self.iters.load(Ordering::Relaxed) {
                black_box(counter).fetch_add(1, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
            futex::wake(self.done, 1);
        }
    }

    /// Posts a job and waits until both workers have done it.
    fn job(&self, iters: u64, contended: bool) -> Duration {
        self.iters.store(iters, Ordering::Relaxed);
        self.contended
            .store(u32::from(contended), Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
        let start = Instant::now();
        self.generation.fetch_add(1, Ordering::Release);
        futex::wake(self.generation, u32::MAX);
        loop {
            let done = self.done.load(Ordering::Acquire);
            if done as usize == WORKERS {
                return start.elapsed();
            }
            futex::wait(self.done, done, None);
        }
    }

    fn quit(&self) {
        self.quit.store(1, Ordering::Release);
        self.generation.fetch_add(1, Ordering::Release);
        futex::wake(self.generation, u32::MAX);
    }
}

fn main() {
    // Fork first, while this process is single-threaded.
    let procs_region = Board::region();
    let parent = nix::unistd::getpid();
    let pids: Vec<_> = (0..WORKERS)
        .map(|me| {
            let region = &procs_region;
            process::fork(move || {
                if process::die_with_parent(parent).is_err() {
                    return 1;
                }
                Board::place(region).serve(me);
                0
            })
            .expect("forking a bench worker")
        })
        .collect();
    let threads_region = Board::region();

    std::thread::scope(|scope| {
        let threads = Board::place(&threads_region);
        for me in 0..WORKERS {
            let region = &threads_region;
            scope.spawn(move || Board::place(region).serve(me));
        }
        let procs = Board::place(&procs_region);

        let mut criterion = Criterion::default().configure_from_args();
        for contended in [true, false] {
            let name = if contended {
                "contended"
            } else {
                "uncontended"
            };
            let mut group = criterion.benchmark_group(format!("shm_atomic/{name}"));
            // One element: one increment by each worker, at the same time.
            group.throughput(Throughput::Elements(1));
            group.bench_function("threads", |b| {
                b.iter_custom(|iters| threads.job(iters, contended))
            });
            group.bench_function("processes", |b| {
                b.iter_custom(|iters| procs.job(iters, contended))
            });
            group.finish();
        }
        criterion.final_summary();
        threads.quit();
        procs.quit();
    });
    for pid in pids {
        let _ = nix::sys::wait::waitpid(pid, None);
    }
}
