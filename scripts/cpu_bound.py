#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# requires-python: >=2.7
"""CPython twin of gilbench's `cpu-bound` scenario.

Each worker does --ops operations; one operation is `ticks_per_op` ticks of pure
Python work, where a tick is about one bytecode: a loop of ticks_per_op // 10
iterations of `x = (x * 31 + i) & 0xFFFF` (about ten bytecodes each).

What it shows: the GIL gives concurrency, not parallelism. CPU-bound threads take
turns holding the GIL, so `threads` finishes in about the same wall time as
`sequential`; `processes` each have their own interpreter and GIL and scale
with the CPUs; so do `subinterpreters` (CPython >= 3.12: one interpreter with
its own GIL per worker, each driven from its own thread, in one process), whose
start-up (creating the interpreters) is reported like the processes' fork.

    python3 scripts/cpu_bound.py [--model sequential,threads,processes,subinterpreters]
        [--workers 2] [--ops 50] [--set ticks_per_op=200000]
        [--switch-interval 5ms] [--start-method fork] [--json]
"""

from __future__ import division, print_function


import inspect

import _subinterp
import _twin
from _twin import latencies, perf_counter_ns  # noqa: F401  (2.7-safe)

TWIN = _twin.Twin(
    name="cpu_bound",
    scenario="cpu-bound",
    description="CPU-bound pure-Python work under threads and processes (the GIL serialises threads).",
    models=["sequential", "threads", "processes", "asyncio", "subinterpreters"],
    default_models=["sequential", "threads", "processes"],
    workers=2,
    ops=50,
    params={
        "ticks_per_op": _twin.int_param(200000, lo=10, help="bytecodes per op (loop of ticks/10 iterations)"),
    },
    start_method=True,
)


def cpu_worker(ops, iterations):
    """Run `ops` operations of `iterations` loop iterations; return per-op latencies."""
    lat = latencies()
    now = perf_counter_ns
    x = 1
    for _ in range(ops):
        t0 = now()
        for i in range(iterations):
            x = (x * 31 + i) & 0xFFFF
        lat.append(now() - t0)
    return lat


def main():
    args = TWIN.parse()
    iterations = args.params["ticks_per_op"] // 10
    models = args.models if "sequential" in args.models else ["sequential"] + args.models
    # warm up (~0.15 s): the adaptive interpreter specialises the loop and the
    # CPU leaves its idle state; without it the first model measured runs ~15% slow
    _twin.warm_up(lambda: cpu_worker(1, iterations))
    runs = []
    for model in models:
        if model == "subinterpreters" and _subinterp.unavailable():
            runs.append(_subinterp.skipped_run(model, args.workers))
            continue
        usage = _twin.Usage()
        if model == "asyncio":  # Python 3.7+ only: imported only when asked for
            import _twin_asyncio
            wall, lats, lag = _twin_asyncio.run(_twin_asyncio.never_awaiting(cpu_worker), args.workers,
                                                lambda i: (args.ops, iterations))
            extra = {"loop_lag_ns": lag}
        elif model == "subinterpreters":
            wall, lats, startup, _ = _subinterp.run_workers(
                inspect.getsource(cpu_worker), "cpu_worker", args.workers,
                lambda i: (args.ops, iterations))
            extra = {"startup_ns": startup}
        else:
            wall, lats, extra = _twin.run_model(model, args, cpu_worker, lambda i: (args.ops, iterations))
        runs.append(_twin.make_run(model, args.workers, args.workers * args.ops, wall,
                                   _twin.merge(lats), usage=usage.stop(), **extra))
    _twin.set_speedups(runs)
    _twin.emit(TWIN, args, runs, explain(runs), extra_columns=[
        ("cpu", lambda r: _twin.fmt_ns(r["cpu_user_ns"] + r["cpu_sys_ns"])),
    ])


def explain(runs):
    by = {r["model"]: r for r in runs}
    parts = []
    t = by.get("cpython-threads")
    p = by.get("cpython-processes")
    if t:
        parts.append('threads ran at {0:.2f}x the sequential speed: only the thread holding the GIL runs bytecode, so CPU-bound threads take turns'.format(t['speedup']))
    if p:
        parts.append('processes reached {0:.2f}x: each has its own interpreter and GIL'.format(p['speedup']))
    a = by.get("cpython-asyncio")
    if a:
        parts.append("asyncio reached {0:.2f}x: its coroutines never await, so each keeps the loop until it is done".format(a['speedup']))
    s = by.get("cpython-subinterpreters")
    if s and s.get("skipped"):
        parts.append('subinterpreters: {0}'.format(s['skipped']))
    elif s and s.get("speedup") is not None:
        parts.append('subinterpreters reached {0:.2f}x after {1} creating their interpreters: a GIL each, in one process'.format(s['speedup'], _twin.fmt_ns(s['startup_ns'])))
    if not parts:
        return "sequential is the baseline: one thread runs every worker's work in turn."
    return "; ".join(parts) + "."


if __name__ == "__main__":
    _twin.run_main(main)
