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

from _twin import latencies, perf_counter_ns


def run(coroutine, workers, args_for):
    """`asyncio.gather` of one `coroutine(*args_for(i))` per worker on a fresh
    loop; returns (wall_ns, [each worker's result]). The wall clock runs from
    the gather, so creating the loop is not part of it."""
    async def main():
        t0 = perf_counter_ns()
        results = await asyncio.gather(*[coroutine(*args_for(i)) for i in range(workers)])
        return perf_counter_ns() - t0, list(results)
    return asyncio.run(main())


# ---------------------------------------------------------------------------
# cpu-bound: no await at all
# ---------------------------------------------------------------------------


async def cpu_worker(ops, iterations):
    """cpu_bound.cpu_worker as a coroutine: it never awaits, so it keeps the
    loop until its last op is done."""
    lat = latencies()
    now = perf_counter_ns
    x = 1
    for _ in range(ops):
        t0 = now()
        for i in range(iterations):
            x = (x * 31 + i) & 0xFFFF
        lat.append(now() - t0)
    return lat


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
    """Returns (wall_ns, latency arrays, observed count)."""
    import itertools
    global counter
    counter = 0
    ticket = itertools.count()
    holder = {}

    async def worker(i):
        if "lock" not in holder:  # made inside the loop: 3.7-3.9 locks bind to it
            holder["lock"] = asyncio.Lock()
        return await counter_worker(n, k, sync, holder["lock"], ticket)

    wall, lats = run(worker, workers, lambda i: (i,))
    observed = next(ticket) if sync == "atomic" else counter
    return wall, lats, observed


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
    sends, recvs), hog loops)."""
    state = {"done": False}
    mine = sock.dup()

    async def main():
        hogs = [asyncio.ensure_future(_hog(state, iterations)) for _ in range(cpu_workers)]
        t0 = perf_counter_ns()
        try:
            lats = await _round_trips(mine, rounds, message_bytes, state)
        finally:
            state["done"] = True
            loops = await asyncio.gather(*hogs)
        return perf_counter_ns() - t0, lats, sum(loops)

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
    returns (wall_ns, [(role, latencies)…])."""
    holder = {}

    async def worker(i):
        if "q" not in holder:  # made inside the loop: 3.7-3.9 queues bind to it
            holder["q"] = asyncio.Queue(maxsize)
        q = holder["q"]
        if i < producers:
            return await _queue_producer(q, n, item_bytes, consumers, stamp)
        return await _queue_consumer(q, producers, stamp)

    return run(worker, producers + consumers, lambda i: (i,))
