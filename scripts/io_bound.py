#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# requires-python: >=2.7
"""CPython twin of gilbench's `io-bound` scenario.

Each worker does --ops operations; one operation blocks in a real system call
for `io_wait` (time.sleep, which releases the GIL) and then does `ticks_per_op`
ticks of pure-Python work (a loop of ticks_per_op // 10 iterations of about ten
bytecodes).

What it shows: CPython releases the GIL around blocking I/O, so threads overlap
their waits just as processes do: with 4 workers both finish about 4x faster
than the sequential baseline. Per-op latency is io_wait plus the work plus any
time spent waiting to take the GIL back.

    python3 scripts/io_bound.py [--model sequential,threads,processes]
        [--workers 4] [--ops 200] [--set io_wait=1ms] [--set ticks_per_op=100]
        [--switch-interval 5ms] [--start-method fork] [--json]
"""

from __future__ import division, print_function

import time

import _twin
from _twin import latencies, perf_counter_ns  # noqa: F401  (2.7-safe)

TWIN = _twin.Twin(
    name="io_bound",
    scenario="io-bound",
    description="Blocking I/O (time.sleep) plus a little Python work: the GIL is released around the wait.",
    models=["sequential", "threads", "processes", "asyncio"],
    default_models=["sequential", "threads", "processes"],
    workers=4,
    ops=200,
    params={
        "io_wait": _twin.duration_param("1ms", help="time blocked in the system call per op"),
        "ticks_per_op": _twin.int_param(100, lo=0, help="bytecodes of Python work per op"),
    },
    start_method=True,
)


def io_worker(ops, wait_s, iterations):
    lat = latencies()
    now = perf_counter_ns
    sleep = time.sleep
    x = 1
    for _ in range(ops):
        t0 = now()
        sleep(wait_s)  # a real blocking system call (clock_nanosleep); GIL released
        for i in range(iterations):
            x = (x * 31 + i) & 0xFFFF
        lat.append(now() - t0)
    return lat


def main():
    args = TWIN.parse()
    wait_s = args.params["io_wait"] / 1e9
    iterations = args.params["ticks_per_op"] // 10
    models = args.models if "sequential" in args.models else ["sequential"] + args.models
    runs = []
    for model in models:
        usage = _twin.Usage()
        if model == "asyncio":  # Python 3.7+ only: imported only when asked for
            import _twin_asyncio
            wall, lats, lag = _twin_asyncio.run(_twin_asyncio.io_worker, args.workers,
                                                lambda i: (args.ops, wait_s, iterations))
            extra = {"loop_lag_ns": lag}
        else:
            wall, lats, extra = _twin.run_model(model, args, io_worker, lambda i: (args.ops, wait_s, iterations))
        runs.append(_twin.make_run(model, args.workers, args.workers * args.ops, wall,
                                   _twin.merge(lats), usage=usage.stop(), **extra))
    _twin.set_speedups(runs)
    _twin.emit(TWIN, args, runs, explain(runs, args))


def explain(runs, args):
    by = {r["model"]: r for r in runs}
    wait = _twin.fmt_ns(args.params["io_wait"])
    parts = []
    for name in ("threads", "processes", "asyncio"):
        r = by.get("cpython-" + name)
        if r:
            parts.append('{0} {1:.2f}x'.format(name, r['speedup']))
    head = ("speedup over sequential: " + ", ".join(parts) + ". ") if parts else ""
    return (head + "Each op sleeps {0} in the kernel with the GIL released, so the {1} workers' waits overlap; p50 above {2} is timer slack plus the wait to take the GIL back.".format(wait, args.workers, wait))


if __name__ == "__main__":
    _twin.run_main(main)
