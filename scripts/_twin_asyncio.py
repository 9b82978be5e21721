# -*- coding: utf-8 -*-
# requires-python: >=3.7
"""The `asyncio` halves of gilbench's CPython twins: one thread, one event loop,
every worker a coroutine that gives the loop back only at its awaits.

Python 3.7+ only (`async def` is a syntax error on Python 2.7, and asyncio.run
arrived in 3.7): the twins import this module only when asked for the asyncio
model, and `_twin.Twin` offers that model only on 3.7+, so the 2.7 path never
reads this file.
"""

import asyncio
import collections
import os
from time import monotonic

from _twin import latencies, perf_counter_ns, summarize

# Set (to anything) to run without the loop-lag instrumentation: what it costs
# is measured by running a twin both ways (README, "asyncio").
NO_LOOP_LAG = "GILBENCH_TWIN_NO_LOOP_LAG"


class LagQueue(collections.deque):
    """The loop's ready queue (`loop._ready`), noting how late each callback ran.

    The same definition as gilbench's simulated loop (`loop_lag_ns`): from the
    moment a callback became ready to the moment the loop takes it to run.
    `BaseEventLoop` puts every ready callback on `_ready` with `append` -- a
    `call_soon` (a task's next step, a future's done-callbacks), a reader or
    writer the selector reported (`_add_callback`, right after the select), an
    expired timer (`_run_once`) -- and takes each with `popleft` just before
    `handle._run()`. So an append marks "ready" (for a timer its deadline,
    `handle._when`, on the loop's clock, time.monotonic), and a popleft "ran".
    Cancelled handles are skipped, as `_run_once` skips them. Wrapping the
    queue needs no copy of `_run_once`, which differs between versions.
    """

    def __init__(self, items=()):
        collections.deque.__init__(self, items)
        # Ready times, one per handle, in the same order; None: not noted (put
        # there before the queue was wrapped).
        self._at = collections.deque([None] * len(self))
        self.lags = latencies()

    # Once per callback each: the names are bound as defaults, not looked up.
    def append(self, handle, _append=collections.deque.append, _now=monotonic):
        _append(self, handle)
        # A TimerHandle is ready at its deadline; anything else now.
        _append(self._at, getattr(handle, "_when", None) or _now())

    def popleft(self, _popleft=collections.deque.popleft, _now=monotonic):
        handle = _popleft(self)
        at = _popleft(self._at)
        if at is not None and not handle._cancelled:
            lag = _now() - at
            self.lags.append(int(lag * 1e9) if lag > 0 else 0)
        return handle

    def clear(self):
        collections.deque.clear(self)
        self._at.clear()


def instrument_loop():
    """Wraps the running loop's ready queue (from inside a coroutine on it, so
    asyncio.run's own set-up stays as it is); returns it, or None when switched
    off or when the loop has no `_ready` deque (not a BaseEventLoop)."""
    loop = asyncio.get_event_loop()
    ready = getattr(loop, "_ready", None)
    if os.environ.get(NO_LOOP_LAG) or not isinstance(ready, collections.deque):
        return None
    loop._ready = LagQueue(ready)
    return loop._ready


def loop_lag(queue):
    """The `loop_lag_ns` summary of an instrumented queue (None: not measured)."""
    return None if queue is None else summarize(queue.lags)


def run(coroutine, workers, args_for):
    """`asyncio.gather` of one `coroutine(*args_for(i))` per worker on a fresh
    loop; returns (wall_ns, [each worker's result], loop_lag_ns). The wall
    clock runs from the gather, so creating the loop is not part of it; loop
    lag is measured from the gather's first call_soon on."""
    async def main():
        lag = instrument_loop()
        t0 = perf_counter_ns()
        results = await asyncio.gather(*[coroutine(*args_for(i)) for i in range(workers)])
        return perf_counter_ns() - t0, list(results), loop_lag(lag)
    return asyncio.run(main())


# ---------------------------------------------------------------------------
# cpu-bound: no await at all
# ---------------------------------------------------------------------------


def never_awaiting(fn):
    """`fn` as a coroutine function that never awaits: it keeps the loop until it
    returns, as CPU-bound code in a coroutine does (cpu_bound.py's worker)."""
    async def coroutine(*args):
        return fn(*args)
    return coroutine


# ---------------------------------------------------------------------------
# io-bound: the wait is a timer on the loop
# ---------------------------------------------------------------------------


async def io_worker(ops, wait_s, iterations):
    """io_bound.io_worker with `await asyncio.sleep` for `time.sleep`."""
    lat = latencies()
    now = perf_counter_ns
    sleep = asyncio.sleep
    x = 1
    for _ in range(ops):
        t0 = now()
        await sleep(wait_s)
        for i in range(iterations):
            x = (x * 31 + i) & 0xFFFF
        lat.append(now() - t0)
    return lat


# ---------------------------------------------------------------------------
# shared-counter: only an await between read and write loses updates
# ---------------------------------------------------------------------------

counter = 0


async def counter_worker(n, k, sync, lock, ticket):
    """`n` increments of the module's `counter`, one op in `k` timed."""
    global counter
    lat = latencies()
    now = perf_counter_ns
    sleep = asyncio.sleep
    for i in range(n):
        timed = i % k == k - 1
        if timed:
            t0 = now()
        if sync == "none":
            counter += 1
        elif sync == "none-call":
            c = counter
            c = abs(c)
            counter = c + 1
        elif sync == "lock":
            async with lock:
                counter += 1
        elif sync == "atomic":
            next(ticket)
        else:  # none-await
            c = counter
            await sleep(0)
            counter = c + 1
        if timed:
            lat.append(now() - t0)
    return lat


def run_counter(workers, n, k, sync):
    """Returns (wall_ns, latency arrays, observed count, loop_lag_ns)."""
    import itertools
    global counter
    counter = 0
    ticket = itertools.count()
    holder = {}

    async def worker(i):
        if "lock" not in holder:  # made inside the loop: 3.7-3.9 locks bind to it
            holder["lock"] = asyncio.Lock()
        return await counter_worker(n, k, sync, holder["lock"], ticket)

    wall, lats, lag = run(worker, workers, lambda i: (i,))
    observed = next(ticket) if sync == "atomic" else counter
    return wall, lats, observed, lag


# ---------------------------------------------------------------------------
# convoy: streams beside CPU-bound coroutines that await between their ops
# ---------------------------------------------------------------------------


async def _hog(state, iterations):
    x = 1
    loops = 0
    while not state["done"]:
        for i in range(iterations):
            x = (x * 31 + i) & 0xFFFF
        loops += 1
        await asyncio.sleep(0)
    return loops


async def _round_trips(sock, rounds, message_bytes, state):
    reader, writer = await asyncio.open_connection(sock=sock)
    lat, sends, recvs = latencies(), latencies(), latencies()
    now = perf_counter_ns
    payload = b"x" * message_bytes
    try:
        for _ in range(rounds):
            t0 = now()
            writer.write(payload)
            await writer.drain()
            t1 = now()
            # The reply reaches the stream's buffer only through the loop's
            # reader callback: this waits behind whatever runs meanwhile.
            await reader.readexactly(message_bytes)
            t2 = now()
            lat.append(t2 - t0)
            sends.append(t1 - t0)
            recvs.append(t2 - t1)
    finally:
        state["done"] = True
        writer.close()
    return lat, sends, recvs


def run_convoy(sock, rounds, cpu_workers, iterations, message_bytes):
    """The I/O coroutine's round trips over a duplicate of `sock` (the stream
    owns and closes it) beside `cpu_workers` hogs. Returns (wall_ns, (lat,
    sends, recvs), hog loops, loop_lag_ns)."""
    state = {"done": False}
    mine = sock.dup()

    async def main():
        lag = instrument_loop()
        hogs = [asyncio.ensure_future(_hog(state, iterations)) for _ in range(cpu_workers)]
        t0 = perf_counter_ns()
        try:
            lats = await _round_trips(mine, rounds, message_bytes, state)
        finally:
            state["done"] = True
            loops = await asyncio.gather(*hogs)
        return perf_counter_ns() - t0, lats, sum(loops), loop_lag(lag)

    try:
        return asyncio.run(main())
    finally:
        mine.close()
        # O_NONBLOCK belongs to the open file, which the duplicate shares.
        sock.setblocking(True)


# ---------------------------------------------------------------------------
# queue: producers and consumers around one asyncio.Queue
# ---------------------------------------------------------------------------


async def _queue_producer(q, n, item_bytes, consumers, stamp):
    """queue_twin.producer with `await q.put`: a put into a queue with room
    never gives the loop back; one into a full queue parks on a putter future
    until a get completes it (one loop round later)."""
    lat = latencies()
    now = perf_counter_ns
    pack = stamp.pack
    pad = b"\0" * (item_bytes - stamp.size)
    put = q.put
    for _ in range(n):
        t0 = now()
        await put(pack(t0) + pad)
        lat.append(now() - t0)
    for _ in range(consumers):
        await put(b"")
    return ("producer", lat)


async def _queue_consumer(q, producers, stamp):
    """queue_twin.consumer with `await q.get`: a get from an empty queue parks
    on a getter future until a put completes it."""
    lat = latencies()
    now = perf_counter_ns
    unpack = stamp.unpack_from
    get = q.get
    sentinels = 0
    while sentinels < producers:
        item = await get()
        t1 = now()
        if not item:
            sentinels += 1
            continue
        lat.append(t1 - unpack(item)[0])
    return ("consumer", lat)


def run_queue(producers, consumers, n, item_bytes, maxsize, stamp):
    """`producers` + `consumers` coroutines around one asyncio.Queue(maxsize);
    returns (wall_ns, [(role, latencies)…], loop_lag_ns)."""
    holder = {}

    async def worker(i):
        if "q" not in holder:  # made inside the loop: 3.7-3.9 queues bind to it
            holder["q"] = asyncio.Queue(maxsize)
        q = holder["q"]
        if i < producers:
            return await _queue_producer(q, n, item_bytes, consumers, stamp)
        return await _queue_consumer(q, producers, stamp)

    return run(worker, producers + consumers, lambda i: (i,))
