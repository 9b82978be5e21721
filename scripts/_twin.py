# -*- coding: utf-8 -*-
"""Shared plumbing for gilbench's CPython twins (scripts/*.py).

Each twin runs one of gilbench's scenario shapes with real CPython threads,
processes or a multiprocessing Manager, so that gilbench's simulation can be put
side by side with the real interpreter (`gilbench scenario NAME --cpython`).

This module holds what every twin needs and nothing scenario-specific:

* the command line: ``--model``, ``--workers``, ``--ops``, ``--switch-interval``,
  ``--set key=value``, ``--start-method``, ``--json``, ``--verbose``;
* durations (``5ms``, ``250us``, ``2s``, ``1.5ms``) parsed to integer nanoseconds;
* the run harnesses: sequential, threads, processes (with a start barrier so
  the measured wall time excludes process creation);
* nearest-rank latency summaries and the JSON / table reports.

Stdlib only. Written to run on Python 2.7 and 3.x alike (no f-strings, no
digit separators), so that `cpu-bound`, `io-bound`, `convoy` and
`shared-counter` can put the real Python 2 GIL beside gilbench's `gil-legacy`.
What 2.7 lacks is filled in below (a monotonic-enough clock, a thread barrier);
what it cannot do is left out: on 2.7 the twins offer no `processes` or
`manager` model (no multiprocessing contexts or barriers) and there is no
switch interval (Python 2 switches every `sys.getcheckinterval()` ticks).
"""

from __future__ import division, print_function

import os
import sys

import argparse
import errno
import json
import math
import multiprocessing
import multiprocessing.managers
import platform
import re
import resource
import signal
import socket
import threading
from array import array

PY2 = sys.version_info[0] == 2

try:
    from time import perf_counter_ns
except ImportError:  # Python < 3.7
    try:
        from time import perf_counter as _seconds

        def perf_counter_ns():
            return int(_seconds() * 1e9)
    except ImportError:  # Python 2: CLOCK_MONOTONIC through ctypes
        import ctypes

        class _Timespec(ctypes.Structure):
            _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]

        # PyDLL, not CDLL: the call keeps the GIL, as time.perf_counter_ns does on
        # Python 3. A CDLL call releases and re-takes it, and under Python 2's GIL
        # every such release is a chance to hand it over: timing one op in 64 then
        # moved the counter's switches to clean spots and cut its lost updates
        # from ~22% to ~14%, measuring the clock instead of the interpreter.
        _libc = ctypes.PyDLL("libc.so.6")
        _CLOCK_MONOTONIC = 1

        def perf_counter_ns():
            ts = _Timespec()  # one per call: threads may switch between the call and the reads
            _libc.clock_gettime(_CLOCK_MONOTONIC, ctypes.byref(ts))
            return ts.tv_sec * 1000000000 + ts.tv_nsec

try:
    BrokenPipeError = BrokenPipeError
except NameError:  # Python 2
    BrokenPipeError = IOError

# 'q' (signed 64-bit) arrived in 3.3; 'l' is 64-bit on every 64-bit Linux.
_LATENCY_CODE = "l" if PY2 else "q"


def latencies():
    """An empty array of integer nanoseconds (per-op latencies)."""
    return array(_LATENCY_CODE)


def cpu_count():
    count = getattr(os, "cpu_count", None)
    return count() if count else multiprocessing.cpu_count()


class _BrokenBarrierError(RuntimeError):
    pass


class _Barrier(object):
    """threading.Barrier's wait() and abort(), for Python 2."""

    def __init__(self, parties):
        self._parties = parties
        self._count = 0
        self._broken = False
        self._cond = threading.Condition()

    def wait(self, timeout=None):
        with self._cond:
            if self._broken:
                raise _BrokenBarrierError()
            self._count += 1
            if self._count >= self._parties:
                self._cond.notify_all()
                return
            while self._count < self._parties and not self._broken:
                self._cond.wait(timeout)
            if self._broken:
                raise _BrokenBarrierError()

    def abort(self):
        with self._cond:
            self._broken = True
            self._cond.notify_all()


Barrier = getattr(threading, "Barrier", _Barrier)
BrokenBarrierError = getattr(threading, "BrokenBarrierError", _BrokenBarrierError)
# Models that need multiprocessing contexts and barriers (Python 3.4+).
_PROCESS_MODELS = ("processes", "manager")

MODEL_PREFIX = "cpython-"
START_METHODS = ("fork", "spawn", "forkserver")

# ---------------------------------------------------------------------------
# Parameter values
# ---------------------------------------------------------------------------

_UNITS_NS = {"ns": 1, "us": 1000, "µs": 1000, "ms": 1000000, "s": 1000000000}
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ns|us|µs|ms|s)\s*$")


def duration_ns(text):
    """'5ms' -> 5_000_000. Accepts ns, us, ms, s (decimals allowed) and a bare 0."""
    if text.strip() == "0":
        return 0
    m = _DURATION_RE.match(text)
    if not m:
        raise ValueError('{0!r} is not a duration (use e.g. 5ms, 250us, 2s, 1.5ms)'.format(text))
    return int(round(float(m.group(1)) * _UNITS_NS[m.group(2)]))


def fmt_ns(ns):
    """Human form of a nanosecond count: '812 ns', '4.98 ms', '1.20 s'."""
    if ns is None:
        return "-"
    ns = float(ns)
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if abs(ns) >= scale:
            v = ns / scale
            return '{0:.3g} {1}'.format(v, unit) if v < 100 else '{0:.0f} {1}'.format(v, unit)
    return '{0:.0f} ns'.format(ns)


def fmt_count(n):
    if n is None:
        return "-"
    n = float(n)
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= scale:
            return '{0:.3g}{1}'.format(n / scale, unit)
    return '{0:.3g}'.format(n)


def fmt_bytes(n):
    if n is None:
        return "-"
    n = float(n)
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return '{0:.1f} {1}'.format(n / scale, unit)
    return '{0:.0f} B'.format(n)


class Param:
    """One `--set` parameter: a default and a parser from text to value."""

    def __init__(self, default, parse, help=""):
        self.default = default
        self.parse = parse
        self.help = help


def int_param(default, lo=None, hi=None, help=""):
    def parse(text):
        try:
            v = int(text.replace("_", ""))
        except ValueError:
            raise ValueError('{0!r} is not an integer'.format(text))
        if lo is not None and v < lo:
            raise ValueError('{0} is below the minimum {1}'.format(v, lo))
        if hi is not None and v > hi:
            raise ValueError('{0} is above the maximum {1}'.format(v, hi))
        return v

    return Param(default, parse, help)


def float_param(default, lo=None, hi=None, help=""):
    def parse(text):
        try:
            v = float(text)
        except ValueError:
            raise ValueError('{0!r} is not a number'.format(text))
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise ValueError('{0} is outside [{1}, {2}]'.format(v, lo, hi))
        return v

    return Param(default, parse, help)


def duration_param(default_text, lo_ns=0, help=""):
    def parse(text):
        v = duration_ns(text)
        if v < lo_ns:
            raise ValueError('{0!r} is below the minimum {1}'.format(text, fmt_ns(lo_ns)))
        return v

    param = Param(duration_ns(default_text), parse, help)
    param.shown = default_text
    return param


def choice_param(default, choices, help=""):
    def parse(text):
        if text not in choices:
            raise ValueError('{0!r} is not one of {1}'.format(text, ', '.join(choices)))
        return text

    return Param(default, parse, help)


def list_param(default, choices, help=""):
    """A comma-separated subset of `choices` (e.g. fork-cow's `variant`)."""

    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in choices]
        if bad or not items:
            raise ValueError('{0!r}: choose from {1}'.format(text, ', '.join(choices)))
        return items

    return Param(list(default), parse, help)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr (exit 2), no usage dump."""

    def error(self, message):
        self.exit(2, '{0}: error: {1} (see --help)\n'.format(self.prog, message))


class Twin:
    """The command line of one twin: its models, defaults and parameters.

    `params` maps a `--set` key to a Param. `workers`/`ops` are the defaults of
    --workers/--ops (None hides a flag's default in --help).
    """

    def __init__(self, name, scenario, description, models, default_models,
                 workers, ops, params, epilog=None, start_method=False):
        self.name = name
        self.scenario = scenario
        if PY2:
            models = [m for m in models if m not in _PROCESS_MODELS]
            default_models = [m for m in default_models if m not in _PROCESS_MODELS]
        if sys.version_info < (3, 7):  # asyncio.run and `async def` (_twin_asyncio)
            models = [m for m in models if m != "asyncio"]
            default_models = [m for m in default_models if m != "asyncio"]
        self.models = list(models)
        self.default_models = list(default_models)
        self.params = dict(params)
        self.workers = workers
        self.ops = ops
        self.start_method = start_method
        shown = {k: '{0}={1}'.format(k, getattr(p, 'shown', None) or _show_default(p.default))
                 for k, p in self.params.items()}
        width = max([len(v) for v in shown.values()] or [0])
        keys = "\n".join('  {0:<{1}}  {2}'.format(shown[k], width, p.help) for k, p in self.params.items())
        self.parser = _Parser(
            prog='{0}.py'.format(name),
            description=description,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            epilog=(epilog + "\n\n" if epilog else "")
            + '--set parameters (default shown):\n{0}'.format(keys),
        )
        p = self.parser
        p.add_argument("--model", default=",".join(self.default_models),
                       help="comma-separated models from: {0} (default: %(default)s); 'cpython-' prefix accepted".format(', '.join(self.models)))
        p.add_argument("--workers", type=_positive_int, default=None,
                       help='number of workers (default: {0})'.format(workers))
        p.add_argument("--ops", type=_positive_int, default=None,
                       help="operations per worker (default: "
                            + ('{0})'.format(ops) if ops is not None else "per model, see below)"))
        p.add_argument("--switch-interval", type=_duration_arg, default=None,
                       metavar="D", help="sys.setswitchinterval, e.g. 5ms (CPython default 5ms)")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override a scenario parameter (repeatable)")
        if start_method:
            p.add_argument("--start-method", choices=START_METHODS, default="fork",
                           help="multiprocessing start method (default: fork)")
        p.add_argument("--describe", action="store_true",
                       help="print what this command line accepts, as JSON, and exit (for gilbench)")
        p.add_argument("--json", action="store_true",
                       help="print one JSON object on stdout instead of a table")
        p.add_argument("--verbose", "-v", action="store_true",
                       help="print extra detail on stderr")

    def error(self, msg):
        """One line on stderr, exit 2."""
        sys.stderr.write('{0}.py: error: {1}\n'.format(self.name, msg))
        sys.exit(2)

    def describe(self):
        """What gilbench needs to know to give this twin the same work as its
        own run: the `--set` parameters, the models, the --ops default (None
        when it differs per model) and whether --start-method is accepted."""
        return {"params": list(self.params), "models": list(self.models),
                "ops": self.ops, "start_method": bool(self.start_method)}

    def parse(self, argv=None):
        if argv is None:
            argv = sys.argv[1:]
        if "--describe" in argv:
            json.dump(self.describe(), sys.stdout)
            sys.stdout.write("\n")
            sys.exit(0)
        args = self.parser.parse_args(argv)
        args.loadavg_at_start = os.getloadavg()
        # models
        models = []
        for m in args.model.split(","):
            m = m.strip()
            if m.startswith(MODEL_PREFIX):
                m = m[len(MODEL_PREFIX):]
            if not m:
                continue
            if m not in self.models:
                self.error('--model: unknown model {0!r} for {1} (choose from {2})'.format(m, self.name, ', '.join(self.models)))
            if m not in models:
                models.append(m)
        if not models:
            self.error("--model: no model given")
        args.models = models
        # parameters
        params = {k: p.default for k, p in self.params.items()}
        args.params_given = set()
        for item in args.set:
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq:
                self.error('--set {0!r}: expected KEY=VALUE'.format(item))
            if key not in self.params:
                known = ", ".join(self.params) or "none"
                self.error('--set: unknown parameter {0!r} for {1} (known: {2})'.format(key, self.scenario, known))
            try:
                params[key] = self.params[key].parse(value.strip())
            except ValueError as e:
                self.error('--set {0}: {1}'.format(key, e))
            args.params_given.add(key)
        args.params = params
        args.ops_given = args.ops is not None
        args.workers_given = args.workers is not None
        if args.workers is None:
            args.workers = self.workers
        if args.ops is None:
            args.ops = self.ops
        if args.switch_interval is not None:
            if args.switch_interval <= 0:
                self.error("--switch-interval must be greater than 0")
            if not PY2:  # Python 2 has no switch interval: ticks only
                sys.setswitchinterval(args.switch_interval / 1e9)
        args.switch_interval_ns = None if PY2 else int(round(sys.getswitchinterval() * 1e9))
        args.check_interval = sys.getcheckinterval() if PY2 else None
        if not self.start_method:
            args.start_method = None
        return args


def _show_default(v):
    if isinstance(v, list):
        return ",".join(v)
    return v


def _positive_int(text):
    try:
        v = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError('{0!r} is not an integer'.format(text))
    if v < 1:
        raise argparse.ArgumentTypeError('{0} must be at least 1'.format(v))
    return v


def _duration_arg(text):
    try:
        return duration_ns(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e))


# ---------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------

SUMMARY_KEYS = ("count", "min", "mean", "p50", "p90", "p99", "p999", "max")


def summarize(samples):
    """Nearest-rank summary of integer nanosecond samples (any iterable)."""
    xs = sorted(samples)
    n = len(xs)
    if n == 0:
        return {k: 0 for k in SUMMARY_KEYS}

    def rank(p):
        return xs[max(1, int(math.ceil(p / 100.0 * n))) - 1]

    return {
        "count": n,
        "min": xs[0],
        "mean": int(round(sum(xs) / n)),
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "p999": rank(99.9),
        "max": xs[-1],
    }


def warm_up(fn, min_ns=150000000):
    """Call fn() repeatedly for at least min_ns before measuring."""
    end = perf_counter_ns() + min_ns
    while perf_counter_ns() < end:
        fn()


def merge(arrays):
    """Concatenate per-worker latency arrays."""
    out = latencies()
    for a in arrays:
        out.extend(a)
    return out


def _rusage_both():
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (s.ru_utime + c.ru_utime, s.ru_stime + c.ru_stime,
            s.ru_nvcsw + c.ru_nvcsw, s.ru_nivcsw + c.ru_nivcsw,
            s.ru_minflt + c.ru_minflt)


class Usage:
    """CPU time, context switches and minor faults of this process plus its
    reaped children, from construction to stop(). (Children of a forkserver
    are not ours: their CPU time is missing with --start-method forkserver.)"""

    def __init__(self):
        self.before = _rusage_both()
        # perf_counter_ns is CLOCK_MONOTONIC on Linux (on 2.7 too, see above), the
        # clock of gilbench's uprobe hits: tells gilbench which run a traced
        # thread belonged to.
        self.t0 = perf_counter_ns()

    def stop(self):
        a, b = self.before, _rusage_both()
        return {
            "window_ns": [self.t0, perf_counter_ns()],
            "cpu_user_ns": int(round((b[0] - a[0]) * 1e9)),
            "cpu_sys_ns": int(round((b[1] - a[1]) * 1e9)),
            "voluntary_ctx_switches": b[2] - a[2],
            "involuntary_ctx_switches": b[3] - a[3],
            "minor_faults": b[4] - a[4],
        }


# ---------------------------------------------------------------------------
# Starting threads
# ---------------------------------------------------------------------------


class WorkerFailed(RuntimeError):
    """A worker failed or could not start: run_main prints it as one line, exit 1."""


class ThreadRefused(WorkerFailed):
    """The OS refused a thread: RLIMIT_NPROC (`ulimit -u`) counts every thread
    and process of the user. The message ends as CPython's own exception does
    ("can't start new thread"), which is how gilbench tells this limit from a
    failed twin."""


def _exception_name(e):
    """'RuntimeError' for a builtin exception, else 'module.name' ('thread.error')."""
    kind = type(e)
    module = getattr(kind, "__module__", "")
    if module in ("builtins", "exceptions"):
        return kind.__name__
    return '{0}.{1}'.format(module, kind.__name__)


def start_threads(threads, release=None):
    """Start `threads` in order and return them. If one cannot start (the OS
    refused it, or Ctrl-C came mid-way), call release() to free the ones already
    started from what they wait on (a barrier's abort, an Event's set), join
    them, and raise: ThreadRefused for a refusal, else the exception itself. A
    started thread left waiting would keep the interpreter from ever exiting."""
    threads = list(threads)
    started = []
    try:
        for t in threads:
            t.start()
            started.append(t)
    except BaseException as e:
        if release is not None:
            release()
        for s in started:
            s.join()
        # threading.ThreadError: RuntimeError on Python 3, thread.error on 2.
        if isinstance(e, threading.ThreadError):
            raise ThreadRefused('starting thread {0} of {1}, {2!r}: {3}: {4}'.format(
                len(started) + 1, len(threads), threads[len(started)].name, _exception_name(e), e))
        raise
    return threads


# ---------------------------------------------------------------------------
# Harnesses: run `target(*args_for(i))` for i in range(workers)
# Each returns (wall_ns, [result of each worker]).
# ---------------------------------------------------------------------------


def run_sequential(target, workers, args_for):
    """One thread runs every worker's work, one after another."""
    t0 = perf_counter_ns()
    results = [target(*args_for(i)) for i in range(workers)]
    return perf_counter_ns() - t0, results


def run_threads(target, workers, args_for):
    """One threading.Thread per worker, released together by a barrier."""
    barrier = Barrier(workers + 1)
    results = [None] * workers
    starts = [0] * workers
    ends = [0] * workers
    errors = []

    def body(i, args):
        try:
            barrier.wait()
            starts[i] = perf_counter_ns()
            results[i] = target(*args)
        except BaseException as e:  # reported by the caller
            errors.append(e)
            barrier.abort()
        ends[i] = perf_counter_ns()

    threads = [threading.Thread(target=body, args=(i, args_for(i)), name='worker-{0}'.format(i))
               for i in range(workers)]
    # The ones started before a refused one wait at the barrier: abort it.
    start_threads(threads, release=barrier.abort)
    try:
        barrier.wait()
    except BrokenBarrierError:
        pass
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return max(ends) - min(starts), results


def _proc_entry(conn, barrier, interval_s, target, args):
    """Body of each worker process: wait for the start, run, send the result."""
    sys.setswitchinterval(interval_s)
    try:
        barrier.wait()
        start = perf_counter_ns()
        res = target(*args)
        end = perf_counter_ns()
        conn.send(("ok", res, (start, end)))
    except KeyboardInterrupt:
        # Ctrl-C reaches the whole process group: the parent reports it
        raise SystemExit(130)
    except BaseException as e:
        try:
            conn.send(("err", '{0}: {1}'.format(type(e).__name__, e), 0))
        except Exception:
            pass
        raise
    finally:
        conn.close()


def run_processes(ctx, target, workers, args_for, start_timeout_s=60):
    """One multiprocessing.Process per worker. The wall time runs from the
    barrier that releases them all (process creation is excluded and reported
    separately as startup_ns) to the last worker's end (perf_counter_ns is
    CLOCK_MONOTONIC on Linux, comparable across processes). Every child is
    joined before returning, whatever happens."""
    barrier = ctx.Barrier(workers + 1)
    procs, conns = [], []
    t_create = perf_counter_ns()
    finished = False
    try:
        for i in range(workers):
            r, w = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_proc_entry, name='worker-{0}'.format(i),
                            args=(w, barrier, sys.getswitchinterval(), target, args_for(i)))
            p.start()
            w.close()
            procs.append(p)
            conns.append(r)
        try:
            barrier.wait(timeout=start_timeout_s)
        except BrokenBarrierError:
            raise WorkerFailed("a worker process did not start")
        t0 = perf_counter_ns()
        startup = t0 - t_create
        results, starts, ends = [], [], []
        for i, r in enumerate(conns):
            try:
                status, res, span = r.recv()
            except EOFError:
                procs[i].join(1)
                raise WorkerFailed('worker process {0} died (exit code {1})'.format(i, procs[i].exitcode))
            if status != "ok":
                raise WorkerFailed('worker process {0} failed: {1}'.format(i, res))
            results.append(res)
            starts.append(span[0])
            ends.append(span[1])
        finished = True
        # the wall clock starts when the first worker leaves the
        # barrier: whoever arrives last releases the others, in any order
        return max(ends) - min(starts), results, startup
    finally:
        for r in conns:
            r.close()
        # on an error or Ctrl-C, do not wait for the others to finish their work
        reap(procs, timeout_s=5 if finished else 0.1)


def reap(procs, timeout_s=5):
    """Join every process; terminate (then kill) the ones that do not exit."""
    for p in procs:
        p.join(timeout_s)
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(timeout_s)
        if p.is_alive():
            p.kill()
            p.join()


class _ManagerServer(multiprocessing.managers.Server):
    """A Manager's server process that ends, its traceback on stderr, when the OS
    refuses it the thread that would serve a client (RLIMIT_NPROC). CPython's own
    (3.8+) loses its accepting thread to that error and then waits forever, and
    every client with it; ended, its clients see EOF and fail, and gilbench
    reports the limit."""

    def accepter(self):
        try:
            multiprocessing.managers.Server.accepter(self)
        except BaseException:
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
            os._exit(1)


# Before 3.8 the server accepts in serve_forever, where the error ends it by itself.
ManagerServer = (_ManagerServer if hasattr(multiprocessing.managers.Server, "accepter")
                 else multiprocessing.managers.Server)


def mp_context(args):
    return multiprocessing.get_context(args.start_method or "fork")


def run_model(model, args, target, args_for):
    """Run `target(*args_for(i))` in args.workers workers under `model`
    (sequential, threads or processes, with --start-method); return (wall_ns,
    [result of each worker], the run's extra fields: startup_ns for processes)."""
    if model == "sequential":
        wall, results = run_sequential(target, args.workers, args_for)
        return wall, results, {}
    if model == "threads":
        wall, results = run_threads(target, args.workers, args_for)
        return wall, results, {}
    wall, results, startup = run_processes(mp_context(args), target, args.workers, args_for)
    return wall, results, {"startup_ns": startup}


# ---------------------------------------------------------------------------
# The echo peer: a forked child with its own GIL (convoy, gc-pause)
# ---------------------------------------------------------------------------


def allowed_cpus():
    """The CPUs the calling thread may run on, ascending (Linux)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    libc, mask, bits = _affinity_mask()
    if libc.sched_getaffinity(0, len(mask) * bits // 8, mask) != 0:
        raise OSError("sched_getaffinity failed")
    return [cpu for cpu in range(len(mask) * bits) if mask[cpu // bits] >> (cpu % bits) & 1]


def pin_current_thread(cpu):
    """Restrict the calling thread to `cpu` (Linux affinity is per thread; a new
    thread or forked child inherits it). Python 2 has no os.sched_setaffinity:
    there, libc's through ctypes."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})
        return
    libc, mask, bits = _affinity_mask()
    mask[cpu // bits] = 1 << (cpu % bits)
    if libc.sched_setaffinity(0, len(mask) * bits // 8, mask) != 0:
        raise OSError("sched_setaffinity({0}) failed".format(cpu))


def _affinity_mask():
    import ctypes
    import ctypes.util
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    mask = (ctypes.c_ulong * 16)()  # 1024 CPUs, glibc's cpu_set_t
    return libc, mask, 8 * ctypes.sizeof(ctypes.c_ulong)


def start_echo_peer(cpu=None):
    """Fork a child that echoes whatever it receives on a socketpair; return
    (our socket, child pid). Call it before any thread starts (fork copies only
    the calling thread) and before a big heap exists. The child runs under its
    own interpreter and GIL, not ours, so its replies never wait for our GIL.
    With `cpu`, the child runs on that CPU only."""
    ours, theirs = socket.socketpair()
    try:
        pid = os.fork()
    except OSError as e:
        ours.close()
        theirs.close()
        if e.errno == errno.EAGAIN:  # RLIMIT_NPROC: one line, exit 1 (run_main)
            raise WorkerFailed('forking the echo peer: {0}: {1}'.format(_exception_name(e), e))
        raise
    if pid == 0:  # child
        code = 0
        try:
            # Ctrl-C is the parent's to handle; the peer leaves at EOF
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            if cpu is not None:
                pin_current_thread(cpu)
            ours.close()
            buf = bytearray(65536)
            while True:
                n = theirs.recv_into(buf)
                if n == 0:
                    break
                theirs.sendall(memoryview(buf)[:n])
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    theirs.close()
    return ours, pid


def stop_echo_peer(sock, pid):
    """Close our end (EOF: the child leaves its loop) and reap the child."""
    sock.close()
    os.waitpid(pid, 0)


# ---------------------------------------------------------------------------
# Runs and reports
# ---------------------------------------------------------------------------


def make_run(model, workers, ops, wall_ns, latencies, counter=None, usage=None, **extra):
    """One RUN object. `ops` is the total number of operations completed by
    all workers; throughput is ops / wall."""
    run = {
        "model": MODEL_PREFIX + model,
        "workers": workers,
        "ops": ops,
        "wall_ns": int(wall_ns),
        "throughput_ops_per_s": round(ops / (wall_ns / 1e9), 1) if wall_ns > 0 else None,
        "speedup": None,
        "latency_ns": latencies if isinstance(latencies, dict) else summarize(latencies),
        "counter": counter,
    }
    if usage:
        run.update(usage)
    run.update(extra)
    return run


def set_speedups(runs):
    """speedup = sequential wall / this wall for the same amount of work. When a
    model ran a different number of ops than the baseline (e.g. the Manager's
    smaller default), the throughput ratio is used, which is the same thing
    normalised per op."""
    base = next((r for r in runs if r["model"] == MODEL_PREFIX + "sequential"), None)
    if base is None:
        return
    for r in runs:
        if r["wall_ns"] <= 0:
            continue
        if r["ops"] == base["ops"]:
            r["speedup"] = round(base["wall_ns"] / r["wall_ns"], 3)
        elif base["throughput_ops_per_s"] and r["throughput_ops_per_s"]:
            r["speedup"] = round(r["throughput_ops_per_s"] / base["throughput_ops_per_s"], 3)


def machine(args=None):
    m = {"cpus": cpu_count(), "kernel": platform.release()}
    if args is not None:
        m["loadavg_at_start"] = [round(x, 2) for x in args.loadavg_at_start]
    return m


def busy_note(args):
    """A warning line when other processes were already competing for the
    CPUs (1-minute load average above half the CPUs before the run), else None."""
    load, cpus = args.loadavg_at_start[0], cpu_count() or 1
    if load > cpus / 2:
        return ('note: load average {0:.2f} on {1} CPUs before the run: other processes were competing for the CPUs; thread-scheduling results may differ on a quiet machine.'.format(load, cpus))
    return None


def config_of(args):
    cfg = {
        "models": [MODEL_PREFIX + m for m in args.models],
        "workers": args.workers,
        "ops": args.ops,
        "switch_interval_ns": args.switch_interval_ns,
    }
    if getattr(args, "start_method", None):
        cfg["start_method"] = args.start_method
    for k, v in args.params.items():
        cfg[k] = v
    return cfg


DEFAULT_COLUMNS = [
    ("model", lambda r: r["model"]),
    ("workers", lambda r: str(r["workers"])),
    ("ops", lambda r: fmt_count(r["ops"])),
    ("wall", lambda r: fmt_ns(r["wall_ns"])),
    ("ops/s", lambda r: fmt_count(r["throughput_ops_per_s"])),
    ("speedup", lambda r: "-" if r["speedup"] is None else '{0:.2f}x'.format(r['speedup'])),
    ("p50", lambda r: fmt_ns(r["latency_ns"]["p50"])),
    ("p99", lambda r: fmt_ns(r["latency_ns"]["p99"])),
    ("max", lambda r: fmt_ns(r["latency_ns"]["max"])),
]


def table(runs, columns):
    rows = [[h for h, _ in columns]] + [[f(r) for _, f in columns] for r in runs]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def emit(twin, args, runs, explanation, extra_columns=(), columns=None, extra=None):
    """Print the report: one JSON object with --json, else a table, then the
    explanation (a string or a list of lines)."""
    if args.json:
        doc = {
            "twin": twin.name,
            "python": platform.python_version(),
            "scenario": twin.scenario,
            "implementation": platform.python_implementation(),
            "machine": machine(args),
            "config": config_of(args),
            "runs": runs,
        }
        if extra:
            doc.update(extra)
        json.dump(doc, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")
        return
    cols = list(columns if columns is not None else DEFAULT_COLUMNS) + list(extra_columns)
    print('{0} (CPython {1} twin, switch interval {2}, {3} CPUs)'.format(twin.scenario, platform.python_version(), fmt_ns(args.switch_interval_ns), cpu_count()))
    print(table(runs, cols))
    if isinstance(explanation, str):
        explanation = [explanation]
    for line in explanation:
        print(line)
    note = busy_note(args)
    if note:
        print(note)


def stop_helpers():
    """Stop and reap multiprocessing's helper processes (the forkserver and the
    resource tracker that spawn/forkserver start). Left alone they outlive this
    process, get re-parented to PID 1 and, where PID 1 does not reap, stay as
    zombies. Uses 3.11's private _stop(), which closes the pipe and waitpid()s."""
    for modname, attr in (("multiprocessing.forkserver", "_forkserver"),
                          ("multiprocessing.resource_tracker", "_resource_tracker")):
        helper = getattr(sys.modules.get(modname), attr, None)
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            try:
                stop()
            except Exception:
                pass


def run_main(main):
    """Call main(); turn worker failures into exit 1 and Ctrl-C into 130,
    each reported as one line on stderr. multiprocessing's helper processes
    are reaped on every path."""
    try:
        _run_main(main)
    finally:
        stop_helpers()


def _run_main(main):
    try:
        main()
    except WorkerFailed as e:
        sys.stderr.write('error: {0}\n'.format(e))
        sys.exit(1)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        # `twin.py | head`: not an error; stdout is gone, do not flush it again
        stop_helpers()
        os._exit(0)
