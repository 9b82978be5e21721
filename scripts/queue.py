#!/usr/bin/env python3
"""CPython twin of gilbench's `queue` scenario.

`producers` workers each put --ops items of `item_bytes` bytes into one queue;
`consumers` workers get them. Each item starts with the perf_counter_ns() at
which it was put (CLOCK_MONOTONIC, comparable across processes); the latency is
enqueue-to-dequeue per item. The put() cost is reported too (put_ns).

Models: `threads` (queue.Queue: a deque under a lock, items passed by
reference), `processes` (multiprocessing.Queue: pickled, pushed through a pipe
by a feeder thread), `manager` (Manager().Queue(): every put and get is a
request/response to the manager's server process). There is no sequential
baseline (one thread cannot be its own consumer), so speedup is null.

Each producer ends with `consumers` empty-bytes sentinels; a consumer stops
after it has received `producers` sentinels, by which time every item has been
taken.

Defaults: 1 producer, 1 consumer, 10,000 items per producer (2,000 for the
manager unless --ops is given). --workers N sets `producers`.

    python3 scripts/queue.py [--model threads,processes,manager] [--ops N]
        [--set producers=1] [--set consumers=1] [--set item_bytes=64]
        [--set maxsize=0] [--start-method fork] [--json]

This file shadows the standard library's `queue` module for code started in
this directory, so it is only a launcher: the twin is in queue_twin.py, and an
`import queue` that lands here hands over to the standard library's module.
"""

import sys

if __name__ == "queue":
    # Imported as `import queue` by code started from this directory (e.g.
    # multiprocessing.managers): put the standard library's module in our place;
    # the import statement returns whatever sys.modules["queue"] holds.
    import importlib.machinery
    import importlib.util
    import os

    _here = os.path.dirname(os.path.abspath(__file__))
    _spec = importlib.machinery.PathFinder.find_spec(
        "queue", [p for p in sys.path if os.path.abspath(p or os.curdir) != _here])
    _stdlib = importlib.util.module_from_spec(_spec)
    sys.modules["queue"] = _stdlib
    _spec.loader.exec_module(_stdlib)
elif __name__ == "__main__":
    import _twin
    import queue_twin

    _twin.run_main(queue_twin.main)
