"""A thousand CPU-bound threads behind one start line: CPython's side of
`gilbench scenario cpu-bound --model sequential,gil --workers 1000 --ops 2`.

Each thread does `ops` operations of `ticks_per_op // 10` iterations of the
cpu-bound twin's loop; the sequential run does all of it on one thread first.
Prints wall time, speedup and the process's user and system CPU for each.
A thread the OS refuses (RLIMIT_NPROC) ends the run in one line, exit 1, once
the ones already started have been released from the start line and joined.

    python3 scripts/thousand_threads.py [--workers 1000] [--ops 2] [--ticks-per-op 200000]
"""

import argparse
import resource
import sys
import threading
import time

import _twin


def work(ops, iterations):
    x = 1
    for _ in range(ops):
        for i in range(iterations):
            x = (x * 31 + i) & 0xFFFF
    return x


def cpu():
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime, u.ru_stime


def measure(run):
    u0, s0 = cpu()
    t0 = time.perf_counter()
    run()
    wall = time.perf_counter() - t0
    u1, s1 = cpu()
    return wall, u1 - u0, s1 - s0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--workers", type=int, default=1000)
    p.add_argument("--ops", type=int, default=2)
    p.add_argument("--ticks-per-op", type=int, default=200000)
    a = p.parse_args()
    iterations = a.ticks_per_op // 10
    if hasattr(sys, "setswitchinterval"):
        sys.setswitchinterval(0.005)

    def sequential():
        for _ in range(a.workers):
            work(a.ops, iterations)

    def threaded():
        gate = threading.Barrier(a.workers + 1)

        def worker():
            try:
                gate.wait()
            except threading.BrokenBarrierError:
                return  # a later thread was refused: the run is off
            work(a.ops, iterations)

        threads = [threading.Thread(target=worker, name="worker-%d" % i) for i in range(a.workers)]
        # Released from the start line if one is refused, or they would wait forever.
        _twin.start_threads(threads, release=gate.abort)
        gate.wait()
        for t in threads:
            t.join()

    seq = measure(sequential)
    # Timed like gilbench's row: thread start-up included, as its workers' is.
    thr = measure(threaded)
    print("python %s, %d workers x %d ops" % (sys.version.split()[0], a.workers, a.ops))
    for name, (wall, user, sys_) in (("sequential", seq), ("threads", thr)):
        print("%-10s wall %6.2f s  speedup %.2fx  user %6.2f s  sys %6.2f s"
              % (name, wall, seq[0] / wall, user, sys_))


if __name__ == "__main__":
    _twin.run_main(main)
