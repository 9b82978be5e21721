#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# requires-python: >=2.7
"""CPython twin of gilbench's `shared-counter` scenario: is `counter += 1` atomic?

N workers each increment one shared counter --ops times; the report counts the
updates that were lost (expected - observed). What one increment executes, by
model and `sync` mode, is exactly the statement in OPS below:

  sync        threads (a global int)                processes (multiprocessing.Value)      manager (Manager().Value)
  none        counter += 1                          v.value += 1   (Value lock=False)      v.value += 1   (2 round trips)
  none-call   c = counter; c = abs(c); counter = c+1  same shape on v.value                 same shape     (2 round trips)
  lock        with lock: counter += 1               with lock: v.value += 1 (mp.Lock)      with lock: ... (4 round trips)
  atomic      next(ticket)  (itertools.count:       with v.get_lock(): v.value += 1        counter.incr() (1 round trip,
              one C call, atomic under the GIL)     (Python has no atomic int)             server-side method under a lock)

Under subinterpreters (CPython >= 3.12: an interpreter with its own GIL per
worker, each driven from its own thread) nothing is shared: only `lock` has a
meaning, the counter being a token in a one-item channel:
`counter = get(ch); put(ch, counter + 1)` (each message pickled and copied;
an empty channel is polled every 10 ms, as CPython's own get() does). The
other modes are refused.

What it shows: in CPython 3.10+ the GIL changes hands only at check points
(calls and backward jumps), and `counter += 1` on a global has none inside, so
threads lose nothing in practice; put a call between the read and the write
(none-call) and a switch there loses everything the other thread did in its
time slice. Processes run truly in parallel on shared memory and lose updates
with any unlocked read-modify-write; a Manager turns each access into a
request/response with its server process.

Latency: timing every op with perf_counter_ns adds two calls (check points)
per op and halves the none-call losses, so only one op in `sample_every`
(default 64; 1 for the manager, whose ops are ~100 us round trips) is timed.

Defaults: 2 workers x 1,000,000 ops for sequential/threads, 200,000 for
processes, 2,000 for the manager. An explicit --ops applies to every model.

    python3 scripts/shared_counter.py [--model threads,processes,manager]
        [--workers 2] [--ops N] [--set sync=none|none-call|lock|atomic]
        [--set sample_every=64] [--switch-interval 5ms] [--start-method fork] [--json]
"""

from __future__ import division, print_function

import itertools
import threading
import time  # noqa: F401  (time.sleep(0) in the generated none-await workers)
from multiprocessing.managers import SyncManager

import _subinterp
import _twin
from _twin import latencies, perf_counter_ns  # noqa: F401  (2.7-safe)

DEFAULT_OPS = {"sequential": 1000000, "threads": 1000000, "processes": 200000, "manager": 2000,
               "asyncio": 1000000, "subinterpreters": 20000}

TWIN = _twin.Twin(
    name="shared_counter",
    scenario="shared-counter",
    description="N workers increment one shared counter; lost updates are counted.",
    models=["sequential", "threads", "processes", "manager", "asyncio", "subinterpreters"],
    default_models=["threads", "processes", "manager"],
    workers=2,
    ops=None,
    params={
        "sync": _twin.choice_param("none", ["none", "none-call", "lock", "atomic", "none-await"],
                                   help="how an increment is protected"),
        "sample_every": _twin.int_param(64, lo=1, help="time one op in this many (manager: 1)"),
    },
    epilog="--ops default: 1,000,000 (sequential, threads), 200,000 (processes), 2,000 (manager), "
           "20,000 (subinterpreters)",
    start_method=True,
)

# One increment, per model and sync mode. `counter` is a module global (threads),
# `v` a shared value, `lock` a lock, `ticket` an itertools.count (threads) or a
# manager-side counter.
OPS = {
    "threads": {
        "none": "counter += 1",
        "none-call": "c = counter; c = abs(c); counter = c + 1",
        "lock": "with lock: counter += 1",
        "atomic": "next(ticket)",
        "none-await": "c = counter; time.sleep(0); counter = c + 1",
    },
    "processes": {
        "none": "v.value += 1",
        "none-call": "c = v.value; c = abs(c); v.value = c + 1",
        "lock": "with lock: v.value += 1",
        "atomic": "with v.get_lock(): v.value += 1",
        "none-await": "c = v.value; time.sleep(0); v.value = c + 1",
    },
    "manager": {
        "none": "v.value += 1",
        "none-call": "c = v.value; c = abs(c); v.value = c + 1",
        "lock": "with lock: v.value += 1",
        "atomic": "ticket.incr()",
        "none-await": "c = v.value; time.sleep(0); v.value = c + 1",
    },
}
# asyncio's ops live in _twin_asyncio.counter_worker (`async def`: Python 3.7+).
ASYNCIO_OPS = {
    "none": "counter += 1",
    "none-call": "c = counter; c = abs(c); counter = c + 1",
    "lock": "async with lock: counter += 1",
    "atomic": "next(ticket)",
    "none-await": "c = counter; await asyncio.sleep(0); counter = c + 1",
}
OPS["sequential"] = OPS["threads"]
# Interpreters share nothing: the counter is a token in a one-item channel.
SUBINTERPRETER_OPS = {"lock": "counter = get(ch); put(ch, counter + 1)"}

# Each worker is generated from this template so that the op under test is the
# only thing in the loop: k-1 untimed ops, then one timed op.
WORKER_TEMPLATE = '''
def {name}(n, k, v, lock, ticket):
    global counter
    lat = latencies()
    now = perf_counter_ns
    for _ in range(n // k):
        for _ in range(k - 1):
            {op}
        t0 = now()
        {op}
        lat.append(now() - t0)
    for _ in range(n % k):
        {op}
    return lat
'''

counter = 0  # the threads' shared counter


def _worker_name(model, sync):
    return 'worker_{0}_{1}'.format(model, sync.replace('-', '_'))


for _model, _ops in OPS.items():
    for _sync, _op in _ops.items():
        exec(WORKER_TEMPLATE.format(name=_worker_name(_model, _sync), op=_op), globals())


class ServerCounter:
    """Lives in the manager's server process; incr() is one request."""

    def __init__(self):
        self._n = 0
        self._lock = threading.Lock()

    def incr(self):
        with self._lock:
            self._n += 1

    def get(self):
        return self._n


class CounterManager(SyncManager):
    _Server = _twin.ManagerServer


CounterManager.register("Counter", ServerCounter)


def run_model(model, args, ops):
    """Run one model; return (wall_ns, latency arrays, observed, extra fields)."""
    global counter
    sync = args.params["sync"]
    k = args.params["sample_every"]
    if model == "manager" and "sample_every" not in args.params_given:
        k = 1
    if model == "asyncio":  # Python 3.7+ only: imported only when asked for
        import _twin_asyncio
        wall, lats, observed, lag = _twin_asyncio.run_counter(args.workers, ops, k, sync)
        return wall, lats, observed, {"sync": sync, "op": ASYNCIO_OPS[sync], "sample_every": k,
                                      "loop_lag_ns": lag}
    extra = {"sync": sync, "sample_every": k}

    if model == "subinterpreters":
        op = SUBINTERPRETER_OPS[sync]
        extra["op"] = op
        channel = _subinterp.Channel()
        try:
            channel.put(0)
            source = WORKER_TEMPLATE.format(name="worker", op=op).replace(
                "def worker(n, k, v, lock, ticket):\n    global counter\n", "def worker(n, k, ch):\n")
            wall, lats, startup, observed = _subinterp.run_workers(
                source, "worker", args.workers, lambda i: (ops, k, channel.handle), channel.get)
        finally:
            channel.close()
        extra["startup_ns"] = startup
        return wall, lats, observed, extra

    target = globals()[_worker_name(model, sync)]
    extra["op"] = OPS[model][sync]
    if model in ("sequential", "threads"):
        counter = 0
        lock = threading.Lock()
        ticket = itertools.count()
        work = (target, args.workers, lambda i: (ops, k, None, lock, ticket))
        if model == "sequential":
            wall, lats = _twin.run_sequential(*work)
        else:
            wall, lats = _twin.run_threads(*work)
        observed = next(ticket) if sync == "atomic" else counter
        return wall, lats, observed, extra

    ctx = _twin.mp_context(args)
    if model == "processes":
        v = ctx.Value("q", 0, lock=(sync == "atomic"))
        lock = ctx.Lock()
        wall, lats, startup = _twin.run_processes(ctx, target, args.workers,
                                                  lambda i: (ops, k, v, lock, None))
        extra["startup_ns"] = startup
        return wall, lats, v.value, extra

    # manager
    with CounterManager(ctx=ctx) as m:
        v, lock, ticket = m.Value("q", 0), m.Lock(), m.Counter()
        wall, lats, startup = _twin.run_processes(ctx, target, args.workers,
                                                  lambda i: (ops, k, v, lock, ticket))
        observed = ticket.get() if sync == "atomic" else v.value
    extra["startup_ns"] = startup
    return wall, lats, observed, extra


def main():
    args = TWIN.parse()
    sync = args.params["sync"]
    if "subinterpreters" in args.models and sync not in SUBINTERPRETER_OPS:
        TWIN.error("--model subinterpreters: sync={0} has nothing to share: interpreters share no "
                   "memory; use --set sync=lock".format(sync))
    models = args.models if "sequential" in args.models else ["sequential"] + args.models
    runs = []
    for model in models:
        if model == "subinterpreters" and _subinterp.unavailable():
            runs.append(_subinterp.skipped_run(model, args.workers))
            continue
        ops = args.ops if args.ops_given else DEFAULT_OPS[model]
        usage = _twin.Usage()
        wall, lats, observed, extra = run_model(model, args, ops)
        expected = args.workers * ops
        workers = args.workers
        runs.append(_twin.make_run(
            model, workers, expected, wall, _twin.merge(lats),
            counter={"expected": expected, "observed": observed, "lost": expected - observed},
            usage=usage.stop(), **extra))
    _twin.set_speedups(runs)
    _twin.emit(TWIN, args, runs, explain(runs, args), extra_columns=[
        ("lost", lambda r: '{0:,}'.format(r['counter']['lost']) if r['counter'] else "-"),
        ("lost %", lambda r: '{0:.1f}%'.format(100 * r['counter']['lost'] / r['counter']['expected'])
         if r['counter'] else "-"),
        ("op", lambda r: r.get("op", "-")),
    ])


def explain(runs, args):
    sync = args.params["sync"]
    lines = []
    by = {r["model"]: r for r in runs}
    t = by.get("cpython-threads")
    if t:
        pct = 100 * t["counter"]["lost"] / t["counter"]["expected"]
        if sync == "none":
            lines.append('threads lost {0:.1f}%: `counter += 1` has no check point between its read and write, and CPython 3.10+ drops the GIL only at check points (calls, backward jumps).'.format(pct))
        elif sync == "none-call":
            lines.append("threads lost {0:.1f}%: the call between read and write is a check point; a switch there makes the thread write back a stale value, erasing the other thread's whole time slice of increments.".format(pct))
        else:
            lines.append('threads lost {0:.1f}% with `{1}` ({2} per op).'.format(pct, t['op'], _twin.fmt_ns(t['latency_ns']['p50'])))
    p = by.get("cpython-processes")
    if p:
        pct = 100 * p["counter"]["lost"] / p["counter"]["expected"]
        if p["counter"]["lost"]:
            lines.append('processes lost {0:.1f}%: they run in parallel on shared memory, so only a lock makes the read-modify-write safe.'.format(pct))
        else:
            lines.append('processes lost nothing with `{0}`, at {1} per op (a cross-process semaphore).'.format(p['op'], _twin.fmt_ns(p['latency_ns']['p50'])))
    a = by.get("cpython-asyncio")
    if a:
        lost = a["counter"]["lost"]
        lines.append('asyncio lost {0:.1f}%: {1}.'.format(
            100 * lost / a["counter"]["expected"],
            "the await between read and write let the other coroutines in" if lost
            else "a coroutine gives the loop up only at an await, and `{0}` has none between read and write".format(a["op"])))
    s = by.get("cpython-subinterpreters")
    if s and s.get("skipped"):
        lines.append('subinterpreters: {0}.'.format(s['skipped']))
    elif s:
        lines.append('subinterpreters: {0} per op (the counter is copied out of a channel and back, pickled each way), lost {1:.1f}%.'.format(_twin.fmt_ns(s['latency_ns']['p50']), 100 * s['counter']['lost'] / s['counter']['expected']))
    m = by.get("cpython-manager")
    if m:
        lines.append('manager: {0} per op (requests to the server process), lost {1:.1f}%.'.format(_twin.fmt_ns(m['latency_ns']['p50']), 100 * m['counter']['lost'] / m['counter']['expected']))
    return lines


if __name__ == "__main__":
    _twin.run_main(main)
