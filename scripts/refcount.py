#!/usr/bin/env python3
"""CPython twin of gilbench's `refcount` scenario: why CPython has a GIL.

`objects` shared objects sit in one list. Each worker does --ops operations;
one operation takes `hold` references to shared objects (appending them to a
local list: an incref each) and then drops them all (clearing the list: a
decref each). A fraction `foreign_ratio` of the references go to objects
"owned" by other workers (the objects are dealt round-robin to the workers),
the rest to the worker's own.

A sampler thread reads sys.getrefcount() of every shared object about every
millisecond while the workers run, so the report shows the counts rising and
falling; afterwards every count must be back at its starting value
(`corrupted` counts the ones that are not).

What it shows: every reference taken or dropped anywhere in CPython writes the
object's ob_refcnt with a plain, non-atomic add. That is safe only because the
GIL lets one thread run at a time; without it (gilbench's `threads` model with
`counting=plain`) concurrent increments are lost and objects are freed while in
use. PEP 703's free-threaded build replaces these with biased reference counts.
CPython 3.11 has only plain counts: `counting=atomic|biased` is accepted for
gilbench's sake, noted on stderr, and run as plain.

    python3 scripts/refcount.py [--model sequential,threads] [--workers 2]
        [--ops 20000] [--set objects=64] [--set hold=64] [--set foreign_ratio=0.5]
        [--switch-interval 5ms] [--json]
"""

import sys
import threading
import time
from array import array
from time import perf_counter_ns

import _twin

TWIN = _twin.Twin(
    name="refcount",
    scenario="refcount",
    description="Threads taking and dropping references to shared objects; refcounts sampled.",
    models=["sequential", "threads"],
    default_models=["sequential", "threads"],
    workers=2,
    ops=20_000,
    params={
        "objects": _twin.int_param(64, lo=1, help="shared objects"),
        "hold": _twin.int_param(64, lo=1, help="references taken, then dropped, per op"),
        "foreign_ratio": _twin.float_param(0.5, lo=0.0, hi=1.0,
                                           help="fraction of references to other workers' objects"),
        "counting": _twin.choice_param("plain", ["plain", "atomic", "biased"],
                                       help="CPython 3.11 has only plain (GIL-protected) counts"),
        "sample_interval": _twin.duration_param("1ms", lo_ns=1, help="refcount sampler period"),
    },
)


class Shared:
    """A shared object (a plain instance: only its refcount matters here)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index


def access_pattern(objs, worker, workers, hold, foreign_ratio):
    """The `hold` objects one op of this worker references: own objects
    (dealt round-robin) mixed with foreign ones at `foreign_ratio`."""
    own = objs[worker::workers]
    foreign = [o for i, o in enumerate(objs) if i % workers != worker] or own
    n_foreign = round(hold * foreign_ratio)
    pattern = []
    f = g = 0
    for j in range(hold):
        # spread the foreign references evenly through the op
        if (j + 1) * n_foreign // hold > f:
            pattern.append(foreign[f % len(foreign)])
            f += 1
        else:
            pattern.append(own[g % len(own)])
            g += 1
    return pattern


def refcount_worker(pattern, ops):
    """`ops` times: take a reference to each object of the pattern, then drop them."""
    lat = array("q")
    now = perf_counter_ns
    held = []
    take = held.append
    for _ in range(ops):
        t0 = now()
        for o in pattern:
            take(o)  # Py_INCREF(o)
        held.clear()  # Py_DECREF of each
        lat.append(now() - t0)
    return lat


class Sampler(threading.Thread):
    """Samples the total of sys.getrefcount over the shared objects (minus the
    baseline) until stopped: the references held by the workers at that moment."""

    def __init__(self, objs, baseline, interval_s):
        super().__init__(name="sampler", daemon=True)
        self.objs, self.baseline, self.interval_s = objs, baseline, interval_s
        self.samples = []
        self.stop = threading.Event()

    def run(self):
        getrefcount = sys.getrefcount
        while not self.stop.is_set():
            extra = sum(getrefcount(o) for o in self.objs) - self.baseline
            self.samples.append((perf_counter_ns(), extra))
            time.sleep(self.interval_s)


def sparkline(values, width=40):
    if not values:
        return ""
    bars = "▁▂▃▄▅▆▇█"
    step = max(1, len(values) // width)
    vs = [max(values[i:i + step]) for i in range(0, len(values), step)]
    top = max(vs) or 1
    return "".join(bars[min(len(bars) - 1, v * len(bars) // (top + 1))] for v in vs)


def main():
    args = TWIN.parse()
    p = args.params
    if p["counting"] != "plain":
        sys.stderr.write(f"refcount.py: note: counting={p['counting']} does not exist in CPython "
                         f"{sys.version.split()[0]}; running its plain, GIL-protected counts\n")
    objs = [Shared(i) for i in range(p["objects"])]
    patterns = [access_pattern(objs, w, args.workers, p["hold"], p["foreign_ratio"])
                for w in range(args.workers)]
    _twin.warm_up(lambda: refcount_worker(patterns[0], 100), 100_000_000)
    getrefcount = sys.getrefcount
    start_counts = [getrefcount(o) for o in objs]
    baseline = sum(start_counts)
    models = args.models if "sequential" in args.models else ["sequential"] + args.models
    runs = []
    for model in models:
        sampler = Sampler(objs, baseline, p["sample_interval"] / 1e9)
        usage = _twin.Usage()
        # A refused sampler is one line (exit 1), not a traceback.
        _twin.start_threads([sampler])
        work = (refcount_worker, args.workers, lambda i: (patterns[i], args.ops))
        try:
            if model == "sequential":
                wall, lats = _twin.run_sequential(*work)
            else:
                wall, lats = _twin.run_threads(*work)
        finally:
            sampler.stop.set()
            sampler.join()
        extras = [e for _, e in sampler.samples]
        end_counts = [getrefcount(o) for o in objs]  # same expression as start_counts
        corrupted = sum(1 for a, b in zip(start_counts, end_counts) if a != b)
        ops = args.workers * args.ops
        runs.append(_twin.make_run(
            model, args.workers, ops, wall, _twin.merge(lats), usage=usage.stop(),
            references_per_op=p["hold"],
            references_per_s=round(ops * p["hold"] / (wall / 1e9), 1),
            counting="plain", counting_requested=p["counting"],
            refcount={"objects": len(objs), "corrupted": corrupted,
                      "baseline": baseline, "samples": len(extras),
                      "held_max": max(extras, default=0), "held_min": min(extras, default=0),
                      "held_series": extras}))
    _twin.set_speedups(runs)
    _twin.emit(TWIN, args, runs, explain(runs), extra_columns=[
        ("refs/s", lambda r: _twin.fmt_count(r["references_per_s"])),
        ("held max", lambda r: str(r["refcount"]["held_max"])),
        ("samples", lambda r: str(r["refcount"]["samples"])),
        ("corrupted", lambda r: str(r["refcount"]["corrupted"])),
    ])


def explain(runs):
    lines = []
    for r in runs:
        rc = r["refcount"]
        lines.append(f"{r['model']:<19} references held, sampled: {sparkline(rc['held_series'])} "
                     f"(0..{rc['held_max']})")
    bad = sum(r["refcount"]["corrupted"] for r in runs)
    lines.append(("Every count came back to its starting value" if not bad else
                  f"{bad} counts did NOT come back")
                 + ": each incref/decref is a plain non-atomic add on ob_refcnt, safe only because the "
                   "GIL runs one thread at a time (free-threaded 3.13+ uses biased counts instead).")
    return lines


if __name__ == "__main__":
    _twin.run_main(main)
