#!/usr/bin/env python3
"""CPython twin of gilbench's `gc-pause` scenario: a full collection stops every thread.

The process holds a heap of `objects` tracked container objects (one-element
lists; a `cycle_fraction` of them refer to themselves, forming cycles). One I/O
thread does `rounds` round trips as in the convoy twin: sleep `io_sleep`, send
64 bytes to an echo peer (a child forked before any thread, under its own GIL),
receive the reply. Each round trip is timed from before the sleep, so a late
wake-up counts. Meanwhile the main thread, every `collect_every`, makes
`garbage` unreachable cycles and calls gc.collect(); allocation also drives the
automatic generational collections (thresholds threshold0/1/2). Every
collection is timed start to stop with gc.callbacks.

`gc` modes: `generational` (CPython's default), `frozen` (gc.freeze() after the
heap is built: the collector skips it), `off` (gc.disable() and no explicit
collections: garbage is never freed). `incremental` (CPython 3.14) does not
exist in 3.11: it is noted on stderr and run as generational.

Models: `sequential` = the I/O worker alone (no collector work: the baseline),
`threads` = the I/O thread beside the collecting main thread.

What it shows: a collection of the oldest generation traverses every tracked
object while holding the GIL; no other thread runs until it ends, so the I/O
thread's worst round trip grows by about one full collection.

    python3 scripts/gc_pause.py [--model sequential,threads]
        [--set objects=1000000] [--set gc=generational|frozen|off]
        [--set rounds=200] [--set io_sleep=1ms] [--set collect_every=100ms]
        [--set garbage=10000] [--set threshold0=700] [--json]

--ops is an alias for rounds; an explicit --set wins.
"""

import gc
import sys
import threading
import time
from array import array
from time import perf_counter_ns

import _twin

MESSAGE_BYTES = 64
T0, T1, T2 = gc.get_threshold()

TWIN = _twin.Twin(
    name="gc_pause",
    scenario="gc-pause",
    description="Garbage-collection pauses seen by an I/O thread.",
    models=["sequential", "threads"],
    default_models=["sequential", "threads"],
    workers=2,
    ops=200,
    params={
        "objects": _twin.int_param(1_000_000, lo=0, help="tracked lists in the long-lived heap"),
        "gc": _twin.choice_param("generational", ["generational", "incremental", "frozen", "off"],
                                 help="collector mode"),
        "threshold0": _twin.int_param(T0, lo=0, help="gc.set_threshold: allocations before gen 0"),
        "threshold1": _twin.int_param(T1, lo=0, help="gen 0 collections before gen 1"),
        "threshold2": _twin.int_param(T2, lo=0, help="gen 1 collections before gen 2"),
        "rounds": _twin.int_param(200, lo=1, help="I/O round trips"),
        "io_sleep": _twin.duration_param("1ms", help="sleep before each round trip"),
        "collect_every": _twin.duration_param("100ms", lo_ns=1, help="period of the main thread's gc.collect()"),
        "garbage": _twin.int_param(10_000, lo=0, help="unreachable cycles made per period"),
        "cycle_fraction": _twin.float_param(0.1, lo=0.0, hi=1.0, help="share of heap lists that refer to themselves"),
    },
)


# -- the I/O worker (the echo peer is _twin's) ------------------------


def io_worker(sock, rounds, sleep_s):
    lat = array("q")
    now = perf_counter_ns
    payload = b"x" * MESSAGE_BYTES
    buf = bytearray(MESSAGE_BYTES)
    view = memoryview(buf)
    for _ in range(rounds):
        t0 = now()
        time.sleep(sleep_s)
        sock.sendall(payload)
        got = 0
        while got < MESSAGE_BYTES:
            n = sock.recv_into(view[got:])
            if n == 0:
                raise ConnectionError("echo peer closed the socket")
            got += n
        lat.append(now() - t0)
    return lat


# -- the heap and the collector ------------------------------------------------


def build_heap(objects, cycle_fraction):
    """`objects` one-element lists; every k-th refers to itself (a cycle)."""
    every = round(1 / cycle_fraction) if cycle_fraction > 0 else 0
    gc.disable()
    heap = []
    for i in range(objects):
        x = [i]
        if every and i % every == 0:
            x.append(x)
        heap.append(x)
    gc.collect()  # the heap now sits in the oldest generation
    return heap


class GcTimer:
    """Times every collection with gc.callbacks (start -> stop)."""

    def __init__(self):
        self.pauses = array("q")
        self.freed = 0
        self.by_generation = [0, 0, 0]
        self._start = 0

    def __call__(self, phase, info):
        if phase == "start":
            self._start = perf_counter_ns()
        else:
            self.pauses.append(perf_counter_ns() - self._start)
            self.freed += info["collected"]
            self.by_generation[info["generation"]] += 1

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self)


def make_garbage(n):
    for _ in range(n):
        a = []
        a.append(a)  # unreachable once `a` is rebound: only the collector frees it


def run_threads(sock, p):
    done = threading.Event()
    result = {}

    def io_body():
        t0 = perf_counter_ns()
        try:
            result["lat"] = io_worker(sock, p["rounds"], p["io_sleep"] / 1e9)
        except Exception as e:  # reported by the main thread
            result["error"] = e
        finally:
            result["wall"] = perf_counter_ns() - t0
            done.set()

    io_thread = threading.Thread(target=io_body, name="io")
    explicit = 0
    # A refused I/O thread is one line (exit 1), not a traceback.
    _twin.start_threads([io_thread])
    try:
        period = p["collect_every"] / 1e9
        while not done.wait(period):
            make_garbage(p["garbage"])
            if p["gc"] != "off":
                gc.collect()
                explicit += 1
    finally:
        io_thread.join()
    if "lat" not in result:
        raise _twin.WorkerFailed(f"the I/O thread failed: {result.get('error')!r}")
    return result["wall"], result["lat"], explicit


def main():
    args = TWIN.parse()
    p = args.params
    if "rounds" not in args.params_given and args.ops_given:
        p["rounds"] = args.ops
    args.ops = p["rounds"]
    if p["gc"] == "incremental":
        sys.stderr.write("gc_pause.py: note: gc=incremental needs CPython 3.14; "
                         f"running {sys.version.split()[0]}'s generational collector\n")
    models = args.models if "sequential" in args.models else ["sequential"] + args.models

    sock, pid = _twin.start_echo_peer()
    runs = []
    try:
        t_build = perf_counter_ns()
        heap = build_heap(p["objects"], p["cycle_fraction"])
        build_ns = perf_counter_ns() - t_build
        gc.set_threshold(p["threshold0"], p["threshold1"], p["threshold2"])
        if p["gc"] == "frozen":
            gc.freeze()
        if p["gc"] == "off":
            gc.disable()
        else:
            gc.enable()
        io_worker(sock, 5, 0)  # warm up
        for model in models:
            usage = _twin.Usage()
            with GcTimer() as timer:
                if model == "sequential":
                    t0 = perf_counter_ns()
                    lat = io_worker(sock, p["rounds"], p["io_sleep"] / 1e9)
                    wall, explicit, workers = perf_counter_ns() - t0, 0, 1
                else:
                    wall, lat, explicit = run_threads(sock, p)
                    workers = 2
            runs.append(_twin.make_run(
                model, workers, p["rounds"], wall, lat, usage=usage.stop(),
                gc={"collections": len(timer.pauses), "pause_ns": _twin.summarize(timer.pauses),
                    "freed": timer.freed, "by_generation": timer.by_generation,
                    "explicit_collections": explicit, "mode": p["gc"]},
                heap_objects=len(heap), heap_build_ns=build_ns))
    finally:
        gc.unfreeze()
        gc.enable()
        _twin.stop_echo_peer(sock, pid)
    _twin.set_speedups(runs)
    _twin.emit(TWIN, args, runs, explain(runs, p), extra_columns=[
        ("collections", lambda r: str(r["gc"]["collections"])),
        ("full", lambda r: str(r["gc"]["by_generation"][2])),
        ("pause p50", lambda r: _twin.fmt_ns(r["gc"]["pause_ns"]["p50"])),
        ("pause max", lambda r: _twin.fmt_ns(r["gc"]["pause_ns"]["max"])),
        ("freed", lambda r: _twin.fmt_count(r["gc"]["freed"])),
    ])


def explain(runs, p):
    by = {r["model"]: r for r in runs}
    seq, thr = by.get("cpython-sequential"), by.get("cpython-threads")
    lines = []
    if thr:
        g = thr["gc"]
        lines.append(
            f"gc={p['gc']}, {p['objects']:,} tracked heap lists: {g['collections']} collections "
            f"({g['by_generation'][2]} full), longest pause {_twin.fmt_ns(g['pause_ns']['max'])}; "
            f"the I/O thread's worst round trip was {_twin.fmt_ns(thr['latency_ns']['max'])}"
            + (f" (alone: {_twin.fmt_ns(seq['latency_ns']['max'])})." if seq else "."))
        if p["gc"] == "off":
            lines.append("With the collector off nothing is paused, and nothing is freed: "
                         f"{p['garbage']:,} cycles per period leak.")
        elif p["gc"] == "frozen":
            lines.append("gc.freeze() moved the heap to the permanent generation: collections "
                         "traverse only the objects made since.")
        else:
            lines.append("A full collection traverses every tracked object holding the GIL; "
                         "the I/O thread cannot run until it ends.")
    return lines


if __name__ == "__main__":
    _twin.run_main(main)
