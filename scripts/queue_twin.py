#!/usr/bin/env python3
"""CPython twin of gilbench's `queue` scenario.

`producers` workers each put --ops items of `item_bytes` bytes into one queue;
`consumers` workers get them. Each item starts with the perf_counter_ns() at
which it was put (CLOCK_MONOTONIC, comparable across processes); the latency is
enqueue-to-dequeue per item. The put() cost is reported too (put_ns).

Models: `threads` (queue.Queue: a deque under a lock, items passed by
reference), `processes` (multiprocessing.Queue: pickled, pushed through a pipe
by a feeder thread), `manager` (Manager().Queue(): every put and get is a
request/response to the manager's server process), `subinterpreters` (CPython
>= 3.12: an interpreter with its own GIL per worker, each driven from its own
thread; an item is pickled, copied by a channel into the consumer's
interpreter and unpickled there; an empty channel is polled every 10 ms, as
CPython's own interpreter queues do; the channel is unbounded, `maxsize` is
not applied), `asyncio` (one event loop, every worker a coroutine around one
asyncio.Queue(maxsize): a full queue parks the producer and an empty one the
consumer on a future that the other side's get/put completes). There is no sequential
baseline (one thread cannot be its own consumer), so speedup is null.

Each producer ends with `consumers` empty-bytes sentinels; a consumer stops
after it has received `producers` sentinels, by which time every item has been
taken.

Defaults: 1 producer, 1 consumer, 10,000 items per producer (2,000 for the
manager unless --ops is given). --workers N counts every worker, as gilbench
does: the producers are N - consumers (at least 1), unless `producers` is set.

The file is not called queue.py: that name would shadow the standard library's
`queue` module for everything started from this folder.

    python3 scripts/queue_twin.py [--model threads,processes,manager,subinterpreters,asyncio] [--ops N]
        [--set producers=1] [--set consumers=1] [--set item_bytes=64]
        [--set maxsize=0] [--start-method fork] [--json]
"""
# requires-python: >=3.7

import inspect
import queue as stdlib_queue
import struct
from array import array
from time import perf_counter_ns

import _subinterp
import _twin
from multiprocessing.managers import SyncManager


class QueueManager(SyncManager):
    """`ctx.Manager()`'s class, with a server that ends when refused a thread."""
    _Server = _twin.ManagerServer


DEFAULT_OPS = {"threads": 10_000, "processes": 10_000, "manager": 2_000, "subinterpreters": 10_000,
               "asyncio": 10_000}
STAMP = struct.Struct("q")

TWIN = _twin.Twin(
    name="queue",
    scenario="queue",
    description="Producers and consumers passing timestamped items through a queue.",
    models=["threads", "processes", "manager", "subinterpreters", "asyncio"],
    default_models=["threads", "processes", "manager"],
    workers=2,
    ops=None,
    params={
        "producers": _twin.int_param(1, lo=1, help="workers putting items"),
        "consumers": _twin.int_param(1, lo=1, help="workers getting items"),
        "item_bytes": _twin.int_param(64, lo=STAMP.size, help="size of one item (starts with its timestamp)"),
        "maxsize": _twin.int_param(0, lo=0, help="queue bound (0 = unbounded)"),
    },
    epilog="--ops default: 10,000 items per producer (threads, processes), 2,000 (manager)",
    start_method=True,
)


def producer(q, n, item_bytes, consumers):
    """Put n timestamped items, then one sentinel per consumer; return put() latencies."""
    lat = array("q")
    now = perf_counter_ns
    pack = STAMP.pack
    pad = b"\0" * (item_bytes - STAMP.size)
    for _ in range(n):
        t0 = now()
        q.put(pack(t0) + pad)
        lat.append(now() - t0)
    for _ in range(consumers):
        q.put(b"")
    return ("producer", lat)


def consumer(q, producers):
    """Get items until `producers` sentinels were seen; return enqueue-to-dequeue latencies."""
    lat = array("q")
    now = perf_counter_ns
    unpack = STAMP.unpack_from
    sentinels = 0
    while sentinels < producers:
        item = q.get()
        t1 = now()
        if not item:
            sentinels += 1
            continue
        lat.append(t1 - unpack(item)[0])
    return ("consumer", lat)


def queue_worker(role, q, n, item_bytes, producers, consumers):
    if role == "producer":
        return producer(q, n, item_bytes, consumers)
    return consumer(q, producers)


# What each worker interpreter runs: the same producer and consumer, over a
# queue-like view of the channel.
SUBINTERPRETER_SETUP = """
import struct
from array import array
STAMP = struct.Struct("q")
class ChannelQueue:
    def __init__(self, ch):
        self.ch = ch
    def put(self, obj):
        put(self.ch, obj)
    def get(self):
        return get(self.ch)
def run(role, ch, n, item_bytes, producers, consumers):
    return queue_worker(role, ChannelQueue(ch), n, item_bytes, producers, consumers)
"""


def subinterpreter_setup():
    return SUBINTERPRETER_SETUP + "".join(
        inspect.getsource(f) for f in (producer, consumer, queue_worker))


def run_model(model, args, ops):
    p = args.params
    P, C = p["producers"], p["consumers"]

    def args_for(q):
        return lambda i: ("producer" if i < P else "consumer", q, ops, p["item_bytes"], P, C)

    extra = {}
    if model == "subinterpreters":
        channel = _subinterp.Channel()
        try:
            wall, results, extra["startup_ns"], _ = _subinterp.run_workers(
                subinterpreter_setup(), "run", P + C, args_for(channel.handle))
        finally:
            channel.close()
    elif model == "asyncio":  # imported only when asked for, as the other twins do
        import _twin_asyncio
        wall, results, extra["loop_lag_ns"] = _twin_asyncio.run_queue(
            P, C, ops, p["item_bytes"], p["maxsize"], STAMP)
    elif model == "threads":
        q = stdlib_queue.Queue(p["maxsize"])
        wall, results = _twin.run_threads(queue_worker, P + C, args_for(q))
    elif model == "processes":
        ctx = _twin.mp_context(args)
        q = ctx.Queue(p["maxsize"])
        try:
            wall, results, extra["startup_ns"] = _twin.run_processes(ctx, queue_worker, P + C, args_for(q))
        finally:
            q.close()
            q.join_thread()
    else:
        ctx = _twin.mp_context(args)
        with QueueManager(ctx=ctx) as m:
            q = m.Queue(p["maxsize"])
            wall, results, extra["startup_ns"] = _twin.run_processes(ctx, queue_worker, P + C, args_for(q))
    gets = _twin.merge(lat for role, lat in results if role == "consumer")
    puts = _twin.merge(lat for role, lat in results if role == "producer")
    extra["put_ns"] = _twin.summarize(puts)
    return wall, gets, extra


def main():
    args = TWIN.parse()
    if args.workers_given and "producers" not in args.params_given:
        # gilbench passes its own worker count, which counts both sides.
        args.params["producers"] = max(1, args.workers - args.params["consumers"])
    P, C = args.params["producers"], args.params["consumers"]
    args.workers = P + C
    runs = []
    for model in args.models:
        if model == "subinterpreters" and _subinterp.unavailable():
            runs.append(_subinterp.skipped_run(model, P + C))
            runs[-1]["put_ns"] = _twin.summarize([])
            continue
        ops = args.ops if args.ops_given else DEFAULT_OPS[model]
        usage = _twin.Usage()
        wall, gets, extra = run_model(model, args, ops)
        runs.append(_twin.make_run(model, P + C, P * ops, wall, gets, usage=usage.stop(),
                                   producers=P, consumers=C, item_bytes=args.params["item_bytes"],
                                   **extra))
    _twin.emit(TWIN, args, runs, explain(runs), extra_columns=[
        ("put p50", lambda r: _twin.fmt_ns(r["put_ns"]["p50"])),
    ])


def explain(runs):
    parts = [f"{r['model'][len(_twin.MODEL_PREFIX):]} {_twin.fmt_count(r['throughput_ops_per_s'])} items/s"
             for r in runs]
    return [", ".join(parts) + ".",
            "queue.Queue hands over references under the GIL; multiprocessing.Queue pickles each item "
            "and a feeder thread writes it to a pipe; a Manager queue costs a round trip to the server "
            "process per put and per get; an asyncio.Queue hands over references on one loop, "
            "and a side gives the loop back only when the queue is full (producer) or empty (consumer); "
            "between subinterpreters an item is pickled, copied "
            "into the other interpreter and unpickled, and an empty channel is polled every 10 ms. "
            "With an unbounded queue the latency also counts the time an "
            "item waits behind the ones put before it."]


if __name__ == "__main__":
    _twin.run_main(main)
