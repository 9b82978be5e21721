#!/usr/bin/env python3
"""CPython twin of gilbench's `alloc` scenario: small objects and pymalloc.

Each worker does --ops operations; one operation allocates `batch` small
objects (bytes of `size` bytes each, kept in a list) and then frees them all.
Objects up to 512 bytes come from pymalloc: 16-byte size classes, 16 KiB pools
of one class, pools carved from 1 MiB arenas. Freed blocks go back to their
pool, and a pool stays with the process while any block in its arena is in
use; only an entirely empty arena is returned to the OS.

Reported per model: ops/s and allocations/s (untimed by tracemalloc), the
tracemalloc peak of a separate traced pass (ops // 10 per worker: tracing slows
allocation several times), and pymalloc's own counters after the run, parsed
from sys._debugmallocstats() (`pymalloc`). --verbose prints that summary.

What it shows: under the GIL one allocator serves all threads without locks
of its own, so threads allocate no faster than one thread; freed small blocks
are kept in their pools for reuse ("bytes in available blocks") rather than
given back to the OS.

    python3 scripts/alloc.py [--model sequential,threads] [--workers 2]
        [--ops 200] [--set batch=10000] [--set size=32] [--verbose] [--json]
"""

import os
import re
import sys
import tempfile
import tracemalloc
from array import array
from time import perf_counter_ns

import _twin

TWIN = _twin.Twin(
    name="alloc",
    scenario="alloc",
    description="Threads allocating and freeing many small objects (pymalloc).",
    models=["sequential", "threads"],
    default_models=["sequential", "threads"],
    workers=2,
    ops=200,
    params={
        "batch": _twin.int_param(10_000, lo=1, help="objects allocated, then freed, per op"),
        "size": _twin.int_param(32, lo=1, hi=1 << 20, help="payload bytes per object (bytes(size))"),
    },
)


def alloc_worker(ops, batch, size):
    lat = array("q")
    now = perf_counter_ns
    for _ in range(ops):
        t0 = now()
        objs = [bytes(size) for _ in range(batch)]  # `batch` fresh objects
        del objs  # ... all freed: blocks return to their pools
        lat.append(now() - t0)
    return lat


_STAT_RE = re.compile(r"^# (arenas allocated total|arenas reclaimed|arenas highwater mark|"
                      r"arenas allocated current|bytes in allocated blocks|"
                      r"bytes in available blocks)\s*=\s*([\d,]+)")


def mallocstats():
    """Capture sys._debugmallocstats() (written by C code to fd 2); return
    (parsed counters, summary lines)."""
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(tmp.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode(errors="replace")
    stats, lines = {}, []
    for line in text.splitlines():
        m = _STAT_RE.match(line)
        if m:
            stats[m.group(1).replace(" ", "_")] = int(m.group(2).replace(",", ""))
            lines.append(line)
    return stats, lines


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run(model, workers, args_for):
    if model == "sequential":
        return _twin.run_sequential(alloc_worker, workers, args_for)
    return _twin.run_threads(alloc_worker, workers, args_for)


def main():
    args = TWIN.parse()
    p = args.params
    batch, size = p["batch"], p["size"]
    _twin.warm_up(lambda: alloc_worker(1, batch, size), 100_000_000)
    models = args.models if "sequential" in args.models else ["sequential"] + args.models
    runs = []
    for model in models:
        before, _ = mallocstats()
        usage = _twin.Usage()
        wall, lats = run(model, args.workers, lambda i: (args.ops, batch, size))
        use = usage.stop()
        after, lines = mallocstats()
        rss = rss_bytes()
        # a separate traced pass for the peak: tracing distorts the timing
        tracemalloc.start()
        try:
            run(model, args.workers, lambda i: (max(1, args.ops // 10), batch, size))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        ops = args.workers * args.ops
        pymalloc = dict(after)
        pymalloc["arenas_allocated_during_run"] = (after.get("arenas_allocated_total", 0)
                                                   - before.get("arenas_allocated_total", 0))
        runs.append(_twin.make_run(
            model, args.workers, ops, wall, _twin.merge(lats), usage=use,
            allocations_per_s=round(ops * batch / (wall / 1e9), 1),
            object_bytes=sys.getsizeof(bytes(size)),
            tracemalloc_peak_bytes=peak, rss_bytes=rss, pymalloc=pymalloc))
        if args.verbose:
            sys.stderr.write(f"--- sys._debugmallocstats() after {model}:\n" + "\n".join(lines) + "\n")
    _twin.set_speedups(runs)
    _twin.emit(TWIN, args, runs, explain(runs), extra_columns=[
        ("allocs/s", lambda r: _twin.fmt_count(r["allocations_per_s"])),
        ("traced peak", lambda r: _twin.fmt_bytes(r["tracemalloc_peak_bytes"])),
        ("arenas new", lambda r: str(r["pymalloc"].get("arenas_allocated_during_run", "-"))),
        ("kept free", lambda r: _twin.fmt_bytes(r["pymalloc"].get("bytes_in_available_blocks"))),
    ])


def explain(runs):
    by = {r["model"]: r for r in runs}
    lines = []
    seq, thr = by.get("cpython-sequential"), by.get("cpython-threads")
    if seq and thr:
        lines.append(f"threads: {_twin.fmt_count(thr['allocations_per_s'])} allocations/s, one thread: "
                     f"{_twin.fmt_count(seq['allocations_per_s'])}/s: one allocator, used by one thread "
                     "at a time under the GIL.")
    pm = runs[-1]["pymalloc"]
    lines.append(
        f"With every object freed, pymalloc still holds {pm.get('arenas_allocated_current', '?')} arenas "
        f"and keeps {_twin.fmt_bytes(pm.get('bytes_in_available_blocks'))} of free blocks in its pools "
        f"for reuse; {pm.get('arenas_reclaimed', '?')} arenas have been returned to the OS so far "
        "(an arena goes back only when every block in it is free).")
    return lines


if __name__ == "__main__":
    _twin.run_main(main)
