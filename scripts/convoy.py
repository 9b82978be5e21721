#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# requires-python: >=2.7
"""CPython twin of gilbench's `convoy` scenario (bpo-7946, the convoy effect).

One I/O worker does `rounds` request/response round trips of 64 bytes over a
socket.socketpair() to an echo peer. The peer is a child forked with os.fork()
before any thread starts, so it runs under its own interpreter and GIL, not
ours. Meanwhile `cpu_workers` CPU-bound threads spin pure-Python loops until the
I/O worker is done. The latency is each round trip, from before send() to after
the reply is received.

What it shows: the reply comes back in microseconds, but the I/O thread dropped
the GIL to block in recv() and a CPU-bound thread took it. To get it back the
I/O thread must wait a full switch interval (sys.setswitchinterval, 5 ms by
default), then ask for a drop; so every round trip costs about one switch
interval instead of a few microseconds.

Models: `sequential` = the I/O worker alone (the baseline round trip);
`asyncio` (3.7+) = one event loop: the I/O coroutine's streams beside
cpu_workers coroutines that await asyncio.sleep(0) after each op of
ticks_per_op bytecodes, so each reply waits behind their ops;
`threads` = the I/O thread plus cpu_workers CPU threads; `processes` (not run by
default) = the CPU workers are processes, with their own GIL: no convoy.

    python3 scripts/convoy.py [--model sequential,threads] [--set rounds=200]
        [--set cpu_workers=1] [--switch-interval 5ms] [--json]

--ops is an alias for rounds and --workers N means cpu_workers = N - 1; an
explicit --set wins.

`--set pin=io-with-peer` puts the I/O worker and the echo peer on one CPU and
the CPU workers on another; `pin=io-alone` puts the peer with the CPU workers.
On two CPUs the placement decides the race for the GIL after each recv(): a
reply from the other CPU loses to the woken CPU thread (every round trip
waits); a reply from the same CPU is quick and often wins. `none` (the
default) leaves it to the OS, and runs split between the two outcomes.
"""

from __future__ import division, print_function

import os
import threading

import _twin
from _twin import latencies, perf_counter_ns  # noqa: F401  (2.7-safe)

MESSAGE_BYTES = 64

TWIN = _twin.Twin(
    name="convoy",
    scenario="convoy",
    description="An I/O thread's socket round trips beside CPU-bound threads (the convoy effect, bpo-7946).",
    models=["sequential", "threads", "processes", "asyncio"],
    default_models=["sequential", "threads"],
    workers=2,
    ops=200,
    params={
        "rounds": _twin.int_param(200, lo=1, help="round trips done by the I/O worker"),
        "cpu_workers": _twin.int_param(1, lo=0, help="CPU-bound workers beside the I/O worker"),
        "pin": _twin.choice_param("none", ["none", "io-with-peer", "io-alone"],
                                  help="where the I/O worker, the echo peer and the CPU workers run"),
        "ticks_per_op": _twin.int_param(20000, lo=10, help="asyncio: a CPU-bound coroutine's op between its awaits"),
    },
    start_method=True,
)


# --------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------


def placement(pin):
    """{"io", "peer", "cpu"} CPUs for `pin`, or None for the OS's choice (as
    gilbench's workload::placement)."""
    if pin == "none":
        return None
    cpus = _twin.allowed_cpus()
    if len(cpus) < 2:
        raise _twin.WorkerFailed("convoy: pin={0} needs two CPUs; this process may run on {1}".format(pin, len(cpus)))
    a, b = cpus[0], cpus[1]
    return {"io": a, "peer": a if pin == "io-with-peer" else b, "cpu": b}


def pin_to(where, role):
    """Pin the calling thread (or process) to its role's CPU, if pinned."""
    if where is not None:
        _twin.pin_current_thread(where[role])


def io_worker(sock, rounds):
    """`rounds` round trips of MESSAGE_BYTES. Returns three latency arrays:
    the round trips, and their send() and receive halves. Both halves are
    system calls that release the GIL, so beside a CPU-bound thread each half
    can cost a switch interval to take the GIL back."""
    lat, sends, recvs = latencies(), latencies(), latencies()
    now = perf_counter_ns
    payload = b"x" * MESSAGE_BYTES
    buf = bytearray(MESSAGE_BYTES)
    view = memoryview(buf)
    for _ in range(rounds):
        t0 = now()
        sock.sendall(payload)
        t1 = now()
        got = 0
        while got < MESSAGE_BYTES:
            n = sock.recv_into(view[got:])
            if n == 0:
                raise ConnectionError("echo peer closed the socket")
            got += n
        t2 = now()
        lat.append(t2 - t0)
        sends.append(t1 - t0)
        recvs.append(t2 - t1)
    return lat, sends, recvs


def cpu_spinner(stop, loops_out, index, spinning=None, where=None):
    """Spin pure-Python loops until `stop` is set; count the inner loops done.
    `spinning` is released once the first loop is done."""
    pin_to(where, "cpu")
    loops = 0
    x = 1
    while not stop.is_set():
        for i in range(1000):
            x = (x * 31 + i) & 0xFFFF
        loops += 1
        if loops == 1 and spinning is not None:
            spinning.release()
    loops_out[index] = loops


def cpu_spinner_process(stop, ready, loops_value, where=None):
    pin_to(where, "cpu")
    loops = [0]
    ready.release()
    try:
        cpu_spinner(stop, loops, 0)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole group: the parent reports it
        raise SystemExit(130)
    loops_value.value = loops[0]


def run_threads(sock, rounds, cpu_workers, where):
    stop = threading.Event()
    # Round 1 starts only once every spinner is running: the I/O thread then
    # meets a GIL held by a CPU-bound thread, as a server's I/O thread would.
    # (Started the other way round, CPython 3.11 can settle in the opposite
    # steady state: the I/O thread re-takes the GIL every few microseconds,
    # each re-take restarts the waiting spinner's switch-interval timer, and
    # the spinner starves; see the README.)
    spinning = threading.Semaphore(0)
    loops = [0] * cpu_workers
    spinners = [threading.Thread(target=cpu_spinner, args=(stop, loops, i, spinning, where), name='cpu-{0}'.format(i))
                for i in range(cpu_workers)]
    result = {}

    def io_body():
        pin_to(where, "io")
        for _ in range(cpu_workers):
            spinning.acquire()
        t0 = perf_counter_ns()
        try:
            result["lat"] = io_worker(sock, rounds)
        except Exception as e:  # reported by the main thread
            result["error"] = e
        finally:
            result["wall"] = perf_counter_ns() - t0
            stop.set()

    io_thread = threading.Thread(target=io_body, name="io")
    try:
        # One the OS refuses ends the run in one line (ThreadRefused), once the
        # spinners already started have seen `stop` and been joined.
        _twin.start_threads(spinners + [io_thread], release=stop.set)
        io_thread.join()
    finally:
        stop.set()
        # Only the ones started: one the OS refused cannot be joined.
        for t in spinners:
            if t.ident is not None:
                t.join()
    if "lat" not in result:
        raise _twin.WorkerFailed('the I/O thread failed: {0!r}'.format(result.get('error')))
    return result["wall"], result["lat"], sum(loops)


def run_processes(ctx, sock, rounds, cpu_workers, where):
    stop = ctx.Event()
    ready = ctx.Semaphore(0)
    values = [ctx.Value("q", 0) for _ in range(cpu_workers)]
    procs = [ctx.Process(target=cpu_spinner_process, args=(stop, ready, values[i], where), name='cpu-{0}'.format(i))
             for i in range(cpu_workers)]
    try:
        for p in procs:
            p.start()
        for _ in procs:
            if not ready.acquire(timeout=60):
                raise _twin.WorkerFailed("a CPU worker process did not start")
        t0 = perf_counter_ns()
        lats = io_worker(sock, rounds)
        wall = perf_counter_ns() - t0
    finally:
        stop.set()
        _twin.reap(procs)
    return wall, lats, sum(v.value for v in values)


def main():
    args = TWIN.parse()
    p = args.params
    rounds = p["rounds"] if "rounds" in args.params_given or not args.ops_given else args.ops
    cpu_workers = p["cpu_workers"]
    if "cpu_workers" not in args.params_given and args.workers_given:
        cpu_workers = args.workers - 1
    p["rounds"], p["cpu_workers"] = rounds, cpu_workers
    args.ops, args.workers = rounds, cpu_workers + 1
    models = args.models if "sequential" in args.models else ["sequential"] + args.models

    where = placement(p["pin"])
    sock, pid = _twin.start_echo_peer(cpu=where and where["peer"])  # before any thread exists
    runs = []
    try:
        pin_to(where, "io")  # the main thread runs the I/O worker of sequential and processes
        io_worker(sock, 20)  # warm up the path
        for model in models:
            usage = _twin.Usage()
            more = {}
            if model == "sequential":
                t0 = perf_counter_ns()
                lats = io_worker(sock, rounds)
                wall, loops, workers = perf_counter_ns() - t0, 0, 1
            elif model == "threads":
                wall, lats, loops = run_threads(sock, rounds, cpu_workers, where)
                workers = cpu_workers + 1
            elif model == "asyncio":  # Python 3.7+ only: imported only when asked for
                import _twin_asyncio
                wall, lats, loops, more["loop_lag_ns"] = _twin_asyncio.run_convoy(
                    sock, rounds, cpu_workers, p["ticks_per_op"] // 10, MESSAGE_BYTES)
                workers = cpu_workers + 1
            else:
                wall, lats, loops = run_processes(_twin.mp_context(args), sock, rounds, cpu_workers, where)
                workers = cpu_workers + 1
            lat, sends, recvs = lats
            runs.append(_twin.make_run(model, workers, rounds, wall, lat, usage=usage.stop(),
                                       cpu_workers=workers - 1, cpu_loops=loops,
                                       send_ns=_twin.summarize(sends),
                                       recv_ns=_twin.summarize(recvs), **more))
    finally:
        _twin.stop_echo_peer(sock, pid)
    _twin.set_speedups(runs)
    _twin.emit(TWIN, args, runs, explain(runs, args), extra_columns=[
        ("send p50", lambda r: _twin.fmt_ns(r["send_ns"]["p50"])),
        ("recv p50", lambda r: _twin.fmt_ns(r["recv_ns"]["p50"])),
        ("cpu loops", lambda r: _twin.fmt_count(r["cpu_loops"])),
    ])


def explain(runs, args):
    by = {r["model"]: r for r in runs}
    seq, thr = by.get("cpython-sequential"), by.get("cpython-threads")
    si_ns = args.switch_interval_ns
    si = _twin.fmt_ns(si_ns)
    if not (seq and thr and thr["cpu_workers"] > 0):
        return 'sequential is the I/O worker alone: the baseline round trip (switch interval {0}).'.format(si)
    p50 = thr["latency_ns"]["p50"]
    if si_ns is None:  # Python 2: no switch interval, a re-take every check interval
        return ["The round trip's p50 went from {0} alone to {1} beside {2} CPU thread(s): Python 2's "
                "GIL is released and re-taken every {3} ticks, and the I/O thread must win one of "
                "those races.".format(_twin.fmt_ns(seq['latency_ns']['p50']), _twin.fmt_ns(p50),
                                      thr['cpu_workers'], args.check_interval)]
    ratio = p50 / max(1, seq["latency_ns"]["p50"])
    slow = [name for name, key in (("send()", "send_ns"), ("recv()", "recv_ns"))
            if thr[key]["p50"] > si_ns / 2]
    lines = ["The round trip's p50 went from {0} alone to {1} beside {2} CPU thread(s) ({3:.0f}x, switch interval {4}); send p50 {5}, recv p50 {6}.".format(_twin.fmt_ns(seq['latency_ns']['p50']), _twin.fmt_ns(p50), thr['cpu_workers'], ratio, si, _twin.fmt_ns(thr['send_ns']['p50']), _twin.fmt_ns(thr['recv_ns']['p50']))]
    if slow:
        lines.append('{0} released the GIL; a CPU thread took it, and to get it back the I/O thread waited a switch interval, then asked for a drop (the convoy effect).'.format(' and '.join(slow)))
    else:
        lines.append("This time the I/O thread mostly won the race to retake the GIL after each system "
                     "call; rerun: usually each call costs a switch interval.")
    return lines


if __name__ == "__main__":
    _twin.run_main(main)
