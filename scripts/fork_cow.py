#!/usr/bin/env python3
"""CPython twin of gilbench's `fork-cow` scenario: copy-on-write after fork().

The parent builds a heap of about `heap_mib` MiB of small tracked Python
objects (one-element lists `[i]`, each with its own int), grown until the
process's resident set has grown by heap_mib. Then, for each variant, a child
does one thing with the heap and reports its minor page faults, its
Private_Dirty memory (from /proc/self/smaps_rollup, read by the child just
before it exits and sent back through a pipe) and the time taken:

  idle                child does nothing: the floor (the interpreter's own writes)
  read                child reads every object's first 16 bytes through its address
                      (ctypes.string_at on ids taken before the fork): no Python
                      reference is made, so no refcount is written
  read-refcounted     child reads every object the normal way (`x = o[0]`): each
                      access writes the refcounts of the list and of its int
  write               child mutates each object (`o[0] = -1`)
  gc-in-child         child runs gc.collect(): the collector writes every tracked
                      object's GC header
  gc-in-child-frozen  parent calls gc.freeze() before the fork; the child's
                      gc.collect() skips the frozen objects
  deep-copy           no fork: the heap is pickled through a pipe to a child made
                      with the `spawn` start method, which unpickles its own copy

What it shows: fork() copies the address space lazily; a page is copied only
when one side writes it. In CPython even reading an object writes it (its
reference count), and a collection writes every GC header, so a "read-only"
child ends up copying most of the heap; gc.freeze() (and, in 3.12+, immortal
objects) avoid the GC part. A deep copy always pays for the whole heap.

Runs carry `variant`, `minor_faults` (the child's own, from wait4),
`work_minor_faults` (during the variant's work), `private_dirty_bytes`,
`heap_bytes`, `heap_objects`; latency_ns summarises the child's work time over
`repeat` repetitions.

    python3 scripts/fork_cow.py [--set heap_mib=64] [--set variant=read,write,...]
        [--set repeat=1] [--json]

gilbench's own default heap is 256 MiB; this twin defaults to 64 MiB.
"""

import ctypes
import gc
import json
import os
import resource
import sys
from array import array
from time import perf_counter_ns

import _twin

VARIANTS = ["idle", "read", "read-refcounted", "write", "gc-in-child",
            "gc-in-child-frozen", "deep-copy"]

TWIN = _twin.Twin(
    name="fork_cow",
    scenario="fork-cow",
    description="Copy-on-write after fork(): what a child's reads, writes and collections copy.",
    models=["processes"],
    default_models=["processes"],
    workers=1,
    ops=1,
    params={
        "heap_mib": _twin.int_param(64, lo=1, hi=65536, help="heap size to build (MiB of resident memory)"),
        "variant": _twin.list_param(VARIANTS, VARIANTS, help="comma-separated variants"),
        "repeat": _twin.int_param(1, lo=1, help="children per variant"),
    },
    epilog="--workers and --ops are accepted and ignored (one child per variant and repeat).",
)

CHUNK = 16384  # objects added between two looks at the resident set


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def private_dirty_bytes():
    """Private_Dirty of this process, from /proc/self/smaps_rollup."""
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Private_Dirty:"):
                return int(line.split()[1]) * 1024
    return None


def build_heap(mib):
    """One-element lists `[i]` until the resident set grew by `mib` MiB."""
    gc.disable()
    try:
        start = rss_bytes()
        target = mib * 2**20
        heap = []
        n = 0
        while rss_bytes() - start < target:
            heap.extend([i] for i in range(n, n + CHUNK))
            n += CHUNK
        grown = rss_bytes() - start
    finally:
        gc.enable()
    gc.collect()  # everything now sits in the oldest generation, as in a long-lived server
    return heap, grown


# -- what each child does -----------------------------------------------------


def do_idle(heap, addrs):
    pass


def do_read(heap, addrs):
    string_at = ctypes.string_at
    total = 0
    for a in addrs:  # addresses taken before the fork: no reference to the objects
        total += string_at(a, 16)[8]
    return total


def do_read_refcounted(heap, addrs):
    total = 0
    for o in heap:  # Py_INCREF/Py_DECREF on each list...
        total += o[0]  # ...and on its int
    return total


def do_write(heap, addrs):
    for o in heap:
        o[0] = -1


def do_gc(heap, addrs):
    gc.collect()


CHILD_WORK = {
    "idle": do_idle,
    "read": do_read,
    "read-refcounted": do_read_refcounted,
    "write": do_write,
    "gc-in-child": do_gc,
    "gc-in-child-frozen": do_gc,
}


def minflt():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def fork_child(variant, heap, addrs):
    """Fork; the child runs the variant and reports. Returns the report."""
    frozen = variant == "gc-in-child-frozen"
    if frozen:
        gc.freeze()
    r, w = os.pipe()
    t0 = perf_counter_ns()
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        raise
    if pid == 0:  # child: report through the pipe, never return
        code = 0
        try:
            os.close(r)
            f0, t1 = minflt(), perf_counter_ns()
            CHILD_WORK[variant](heap, addrs)
            t2, f1 = perf_counter_ns(), minflt()
            report = {"work_ns": t2 - t1, "work_minor_faults": f1 - f0,
                      "private_dirty_bytes": private_dirty_bytes()}
            os.write(w, json.dumps(report).encode())
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(w)
    try:
        with os.fdopen(r, "rb") as f:
            data = f.read()
    finally:
        _, status, ru = os.wait4(pid, 0)
        if frozen:
            gc.unfreeze()
    wall = perf_counter_ns() - t0
    # os.waitstatus_to_exitcode is 3.9+; this runs on 3.7 too.
    if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0) or not data:
        raise _twin.WorkerFailed(f"fork-cow child for {variant} failed (status {status})")
    report = json.loads(data)
    report["wall_ns"] = wall
    report["minor_faults"] = ru.ru_minflt
    return report


def deep_copy_child(conn):
    """Spawned child: receive the pickled heap, unpickle it, report."""
    try:
        _deep_copy_child(conn)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole group: the parent reports it
        raise SystemExit(130) from None


def _deep_copy_child(conn):
    f0, t1 = minflt(), perf_counter_ns()
    heap = conn.recv()
    t2, f1 = perf_counter_ns(), minflt()
    conn.send({"work_ns": t2 - t1, "work_minor_faults": f1 - f0,
               "private_dirty_bytes": private_dirty_bytes(), "objects": len(heap),
               "minor_faults": minflt()})
    conn.close()


def deep_copy(heap):
    ctx = _twin.multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    p = ctx.Process(target=deep_copy_child, args=(theirs,), name="deep-copy")
    t0 = perf_counter_ns()
    try:
        p.start()
        theirs.close()
        ours.send(heap)  # pickled here, unpickled there
        report = ours.recv()
    except (EOFError, OSError) as e:
        raise _twin.WorkerFailed(f"deep-copy child failed: {e}") from None
    finally:
        ours.close()
        _twin.reap([p])
    report["wall_ns"] = perf_counter_ns() - t0
    return report


def main():
    args = TWIN.parse()
    p = args.params
    args.workers, args.ops = 1, None
    heap, heap_bytes = build_heap(p["heap_mib"])
    addrs = array("Q", map(id, heap))
    runs = []
    for variant in p["variant"]:
        reports = [deep_copy(heap) if variant == "deep-copy" else fork_child(variant, heap, addrs)
                   for _ in range(p["repeat"])]
        last = reports[-1]
        wall = sum(r["wall_ns"] for r in reports)
        run = _twin.make_run(
            "processes", 1, len(heap) * len(reports), wall,
            [r["work_ns"] for r in reports],
            variant=variant,
            start_method="spawn" if variant == "deep-copy" else "fork",
            minor_faults=last["minor_faults"],
            work_minor_faults=last["work_minor_faults"],
            private_dirty_bytes=last["private_dirty_bytes"],
            heap_bytes=heap_bytes,
            heap_objects=len(heap),
            copied_fraction=round((last["private_dirty_bytes"] or 0) / heap_bytes, 3),
        )
        runs.append(run)
    _twin.emit(TWIN, args, runs, explain(runs, heap_bytes, len(heap)), columns=[
        ("variant", lambda r: r["variant"]),
        ("work", lambda r: _twin.fmt_ns(r["latency_ns"]["p50"])),
        ("wall", lambda r: _twin.fmt_ns(r["wall_ns"] // max(1, r["latency_ns"]["count"]))),
        ("minor faults", lambda r: f"{r['minor_faults']:,}"),
        ("in work", lambda r: f"{r['work_minor_faults']:,}"),
        ("private dirty", lambda r: _twin.fmt_bytes(r["private_dirty_bytes"])),
        ("of heap", lambda r: f"{100 * r['copied_fraction']:.0f}%"),
    ])


def explain(runs, heap_bytes, objects):
    by = {r["variant"]: r for r in runs}
    lines = [f"heap: {objects:,} tracked lists, {_twin.fmt_bytes(heap_bytes)} resident; "
             "'private dirty' is what the child had to copy (or, for deep-copy, build)."]
    if "read" in by and "read-refcounted" in by:
        lines.append(f"Reading without references copied {_twin.fmt_bytes(by['read']['private_dirty_bytes'])}; "
                     f"reading the Python way copied {_twin.fmt_bytes(by['read-refcounted']['private_dirty_bytes'])}: "
                     "every access writes the object's reference count.")
    if "gc-in-child" in by and "gc-in-child-frozen" in by:
        lines.append(f"gc.collect() in the child copied {_twin.fmt_bytes(by['gc-in-child']['private_dirty_bytes'])} "
                     "(it writes each GC header); after gc.freeze() in the parent, "
                     f"{_twin.fmt_bytes(by['gc-in-child-frozen']['private_dirty_bytes'])}.")
    return lines


if __name__ == "__main__":
    _twin.run_main(main)
