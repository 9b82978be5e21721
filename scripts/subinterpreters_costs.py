#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# requires-python: >=2.7
"""What subinterpreters cost on this CPython: where the constants of gilbench's
`subinterpreters` model (src/workload/xi.rs) come from.

Everything is given in *bytecodes*: the time of one bytecode of the cpu-bound
twin's loop (`x = (x * 31 + i) & 0xFFFF`, ten bytecodes an iteration), measured
in the same process, so that the figures carry over to the simulation, whose
unit of work is one such bytecode, whatever the machine's speed.

* creating an interpreter (`_interpreters.create()`, the isolated config: its
  own GIL and allocator): its time in bytecodes, the modules it initialises
  (`len(sys.modules)` inside it) and what it adds to the process's RSS;
* a message through a channel as `Queue.put()`/`get()` send an object that is
  not shareable: `pickle.dumps`, the channel's copy, `pickle.loads`; its fixed
  part in bytecodes, and its per-byte part as a number of copies of the message
  (a `bytearray(b)` copy of the same bytes being one).

Each figure is the minimum over repeats (the least disturbed). Run it on a quiet
machine:

    python3.13 scripts/subinterpreters_costs.py [--json]
"""

from __future__ import division, print_function

import json
import sys

import _subinterp
from _twin import perf_counter_ns

REPEATS = 7


def best(fn, n):
    """The least ns per call of fn() over REPEATS batches of n calls."""
    times = []
    for _ in range(REPEATS):
        t0 = perf_counter_ns()
        for _ in range(n):
            fn()
        times.append((perf_counter_ns() - t0) / n)
    return min(times)


def bytecode_ns():
    def loop():
        x = 1
        for i in range(100000):
            x = (x * 31 + i) & 0xFFFF
        return x
    return best(loop, 3) / 1e6  # 100,000 iterations of ten bytecodes


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def creation():
    """ns per create() (destroyed after), RSS added per live interpreter, and
    the modules a new interpreter holds."""
    times = []
    for _ in range(REPEATS):
        t0 = perf_counter_ns()
        interp = _subinterp.create()
        times.append(perf_counter_ns() - t0)
        _subinterp.destroy(interp)
    before = rss_bytes()
    live = [_subinterp.create() for _ in range(4)]
    rss = (rss_bytes() - before) / len(live)
    modules = _subinterp.Channel()
    try:
        # Counted before the prelude imports pickle into it.
        code = "import sys\n_n = len(sys.modules)\n" + _subinterp.prelude() + "put(_ch, _n)\n"
        _subinterp.run_in(live[0], code,
                          {"_ch": modules.handle})
        count = modules.get()
    finally:
        modules.close()
        for interp in live:
            _subinterp.destroy(interp)
    return min(times), sorted(times)[len(times) // 2], rss, count


def messages():
    """(size, ns per put+get of a bytes object of that size, ns per copy)."""
    channel = _subinterp.Channel()
    rows = []
    try:
        for size in (8, 64, 512, 4096, 32768, 65536):
            payload = b"x" * size

            def one():
                channel.put(payload)
                channel.get()

            n = 2000 if size <= 4096 else 500
            rows.append((size, best(one, n), best(lambda: bytearray(payload), n)))
    finally:
        channel.close()
    return rows


def main():
    why = _subinterp.unavailable()
    if why:
        print(why)
        return
    bc = bytecode_ns()
    create_min, create_median, rss, modules = creation()
    rows = messages()
    fixed = rows[0][1]
    (s0, t0, _), (s1, t1, c1) = rows[0], rows[-1]
    per_byte = (t1 - t0) / (s1 - s0)
    copy_per_byte = c1 / s1
    out = {
        "python": sys.version.split()[0],
        "backend": _subinterp.backend(),
        "bytecode_ns": round(bc, 3),
        "create_ns": {"min": int(create_min), "median": int(create_median)},
        "create_bytecodes": int(create_min / bc),
        "modules": modules,
        "rss_per_interpreter_bytes": int(rss),
        "message_ns": {str(s): int(t) for s, t, _ in rows},
        "message_fixed_bytecodes": round(fixed / bc, 1),
        "message_per_byte_ns": round(per_byte, 4),
        "copy_per_byte_ns": round(copy_per_byte, 4),
        "message_copies": round(per_byte / copy_per_byte, 2) if copy_per_byte else None,
    }
    if "--json" in sys.argv:
        json.dump(out, sys.stdout)
        print()
        return
    for k, v in out.items():
        print("{0:28} {1}".format(k, v))


if __name__ == "__main__":
    main()
