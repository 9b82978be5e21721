#!/usr/bin/env python3
"""CPython's multiprocessing.Manager, measured the way benches/manager.rs measures
gilbench's manager, for side-by-side figures on the same machine.

  startup      Manager() (fork) until a first proxied op has been served
  connect      Client(address, authkey): connect + the mutual HMAC handshake
  dict op      one d.get(key) on a DictProxy, per-op p50 (one client)
  lock         `with lock: v.value += 1` with N worker processes (four round
               trips per increment): increments per second
  incr         one server-side increment per op (a registered type whose incr()
               runs in the server under a lock): increments per second

Pinned and unpinned (children inherit the affinity):

    taskset -c 0 python3 scripts/manager_bench.py
    python3 scripts/manager_bench.py [--workers 2] [--ops 2000] [--json]
"""

import argparse
import json
import multiprocessing as mp
import os
import threading
import time
from multiprocessing import connection
from multiprocessing.managers import SyncManager

import _twin


class ServerCounter:
    """Lives in the manager's server process; incr() is one request."""

    def __init__(self):
        self._value = 0
        self._lock = threading.Lock()

    def incr(self):
        with self._lock:
            self._value += 1
            return self._value

    def get(self):
        return self._value


class CounterManager(SyncManager):
    pass


CounterManager.register("Counter", ServerCounter)


def summary(samples):
    """The twins' nearest-rank summary (with 100 samples, p99 is the 99th, not the max)."""
    return _twin.summarize(samples)


def bench_startup(rounds):
    ctx = mp.get_context("fork")
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        m = CounterManager(ctx=ctx)
        m.start()
        d = m.dict()
        d.get("k")
        out.append(time.perf_counter_ns() - t0)
        m.shutdown()
    return summary(out)


def bench_connect(rounds):
    authkey = os.urandom(32)
    listener = connection.Listener(family="AF_UNIX", authkey=authkey)
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                c = listener.accept()
            except Exception:
                continue
            c.close()

    # CPython's Listener.accept runs the server side of the handshake in the
    # accepting thread; a separate process serves, as a manager would.
    ctx = mp.get_context("fork")
    server = ctx.Process(target=accept, daemon=True)
    server.start()
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        c = connection.Client(listener.address, family="AF_UNIX", authkey=authkey)
        out.append(time.perf_counter_ns() - t0)
        c.close()
    server.terminate()
    server.join()
    listener.close()
    return summary(out)


def bench_dict(m, rounds):
    d = m.dict()
    d["key"] = b"value"
    for _ in range(500):
        d.get("key")
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        d.get("key")
        out.append(time.perf_counter_ns() - t0)
    return summary(out)


def lock_worker(v, lock, ops, barrier):
    barrier.wait()
    for _ in range(ops):
        with lock:
            v.value += 1


def incr_worker(counter, ops, barrier):
    barrier.wait()
    for _ in range(ops):
        counter.incr()


def run_workers(ctx, target, args, workers):
    barrier = ctx.Barrier(workers + 1)
    procs = [ctx.Process(target=target, args=args + (barrier,)) for _ in range(workers)]
    for p in procs:
        p.start()
    barrier.wait()
    t0 = time.perf_counter_ns()
    for p in procs:
        p.join()
    return time.perf_counter_ns() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--ops", type=int, default=2000, help="increments per worker")
    ap.add_argument("--rounds", type=int, default=20000, help="dict ops / connects timed")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    ctx = mp.get_context("fork")
    results = {"cpus": sorted(os.sched_getaffinity(0)), "workers": a.workers, "ops": a.ops}
    results["startup_ns"] = bench_startup(20)
    results["connect_ns"] = bench_connect(min(a.rounds, 2000))
    with CounterManager(ctx=ctx) as m:
        results["dict_get_ns"] = bench_dict(m, a.rounds)
        v, lock = m.Value("i", 0), m.Lock()
        wall = run_workers(ctx, lock_worker, (v, lock, a.ops), a.workers)
        assert v.value == a.workers * a.ops, v.value
        results["lock_incr_per_s"] = a.workers * a.ops / (wall / 1e9)
        counter = m.Counter()
        wall = run_workers(ctx, incr_worker, (counter, a.ops * 4), a.workers)
        assert counter.get() == a.workers * a.ops * 4
        results["server_incr_per_s"] = a.workers * a.ops * 4 / (wall / 1e9)
    if a.json:
        print(json.dumps(results))
        return
    us = lambda ns: f"{ns / 1e3:8.1f} µs"
    print(f"CPython {'.'.join(map(str, __import__('sys').version_info[:3]))} multiprocessing.Manager, "
          f"CPUs {results['cpus']}, {a.workers} workers")
    for name in ("startup_ns", "connect_ns", "dict_get_ns"):
        s = results[name]
        print(f"  {name:<14} p50 {us(s['p50'])}  p90 {us(s['p90'])}  p99 {us(s['p99'])}  (n={s['count']})")
    print(f"  lock pattern   {results['lock_incr_per_s']:10.0f} increments/s")
    print(f"  server incr    {results['server_incr_per_s']:10.0f} increments/s")


if __name__ == "__main__":
    main()
