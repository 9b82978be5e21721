# -*- coding: utf-8 -*-
"""Subinterpreters for gilbench's CPython twins: one interpreter (with its own
GIL, PEP 684) per worker, each driven from its own thread, and a channel that
copies pickled messages between them.

Which module gives them depends on the version:

* 3.14+: ``concurrent.interpreters`` (PEP 734): interpreters and queues;
* 3.13:  ``_interpreters`` and ``_interpchannels``;
* 3.12:  ``_xxsubinterpreters`` and ``_xxinterpchannels``;
* older: none: ``unavailable()`` says "needs CPython >= 3.12" and the twin
  prints a skipped row ("needs CPython ≥ 3.12").

This module imports on 2.7 and 3.6+ alike (nothing version-specific at import
time but guarded imports).

Messages are what ``Queue.put()`` sends for an object that is not shareable:
``pickle.dumps(obj)``, a bytes object the channel copies into the receiving
interpreter, where ``pickle.loads`` rebuilds it. A receiver that finds the
channel empty sleeps 10 ms and looks again, as CPython's own blocking
``recv()``/``get()`` do (``_delay=10 / 1000`` in Lib/test/support/interpreters
of 3.12 and 3.13, and in 3.14's concurrent.interpreters queues).
"""

from __future__ import division, print_function

import sys

from _twin import WorkerFailed, make_run, perf_counter_ns, run_threads

# How long an empty (or full) channel is slept on before looking again: CPython's.
POLL_DELAY_S = 10 / 1000

# Python 2 prints to an ASCII stdout: its row says ">=".
SKIPPED = (u"skipped: needs CPython \u2265 3.12" if sys.version_info[0] > 2
           else "skipped: needs CPython >= 3.12")

_backend = None
if sys.version_info >= (3, 12):
    try:
        import concurrent.interpreters as _ci  # 3.14+

        _backend = "concurrent.interpreters"
    except ImportError:
        try:
            import _interpreters as _interp  # 3.13
            import _interpchannels as _chan

            _backend = "_interpreters"
        except ImportError:
            try:
                import _xxsubinterpreters as _interp  # 3.12
                import _xxinterpchannels as _chan

                _backend = "_xxsubinterpreters"
            except ImportError:
                _backend = None


def unavailable():
    """None when subinterpreters with their own GIL can run here, else why not."""
    return None if _backend else SKIPPED


def skipped_run(model, workers):
    """The row of a model that cannot run on this version: nothing measured."""
    usage = {"cpu_user_ns": 0, "cpu_sys_ns": 0, "voluntary_ctx_switches": 0,
             "involuntary_ctx_switches": 0, "minor_faults": 0}
    return make_run(model, workers, 0, 0, [], usage=usage, startup_ns=None, skipped=SKIPPED)


def backend():
    """The module the interpreters come from."""
    return _backend


# The code every worker interpreter runs first: put(ch, obj) / get(ch) over the
# backend's channel, pickling as Queue.put() does, polling as Queue.get() does.
_PRELUDE = {
    "_xxsubinterpreters": '''
import _xxinterpchannels as _chan
def _send(ch, data):
    _chan.send(ch, data)
def _recv(ch, empty):
    return _chan.recv(ch, empty)
''',
    "_interpreters": '''
import _interpchannels as _chan
def _send(ch, data):
    _chan.send(ch, data, 3, blocking=False)  # 3: UNBOUND, the default
def _recv(ch, empty):
    got = _chan.recv(ch, empty)
    return empty if got is empty else got[0]
''',
    "concurrent.interpreters": '''
import concurrent.interpreters as _ci
def _send(ch, data):
    ch.put_nowait(data)
def _recv(ch, empty):
    try:
        return ch.get_nowait()
    except _ci.QueueEmpty:
        return empty
''',
}

_COMMON = '''
import pickle as _pickle
import time as _time
from array import array as _array
from time import perf_counter_ns
_EMPTY = object()
def latencies():
    return _array("q")
def put(ch, obj):
    """Queue.put() of an object that is not shareable: pickle, then copy."""
    _send(ch, _pickle.dumps(obj))
def get(ch):
    """Queue.get(): poll every 10 ms while empty, then unpickle."""
    while True:
        data = _recv(ch, _EMPTY)
        if data is not _EMPTY:
            return _pickle.loads(data)
        _time.sleep(%r)
''' % POLL_DELAY_S


def prelude():
    return _PRELUDE[_backend] + _COMMON


class Channel(object):
    """A channel the main interpreter and the workers share."""

    def __init__(self):
        if _backend == "concurrent.interpreters":
            self.handle = _ci.create_queue()
        elif _backend == "_interpreters":
            self.handle = _chan.create(3)
        else:
            self.handle = _chan.create()
        ns = {}
        exec(prelude(), ns)
        self._put, self._get = ns["put"], ns["get"]

    def put(self, obj):
        self._put(self.handle, obj)

    def get(self):
        return self._get(self.handle)

    def close(self):
        if _backend in ("_interpreters", "_xxsubinterpreters"):
            try:
                _chan.destroy(self.handle)
            except Exception:
                pass


def create():
    """A new interpreter with its own GIL (the default, 'isolated', config)."""
    if _backend == "concurrent.interpreters":
        return _ci.create()
    return _interp.create()


def destroy(interp):
    try:
        if _backend == "concurrent.interpreters":
            interp.close()
        else:
            _interp.destroy(interp)
    except Exception:
        pass


def run_in(interp, code, shared):
    """Runs `code` in `interp` on this thread, with `shared` (ints, bytes, str,
    channels) bound in its __main__. A failure raises WorkerFailed."""
    if _backend == "concurrent.interpreters":
        try:
            interp.prepare_main(**shared)
            getattr(interp, "exec")(code)  # a keyword on Python 2
        except Exception as e:
            raise WorkerFailed("subinterpreter failed: {0}".format(e))
        return
    try:
        failed = _interp.run_string(interp, code, shared)
    except Exception as e:  # 3.12: RunFailedError
        raise WorkerFailed("subinterpreter failed: {0}".format(e))
    if failed is not None:  # 3.13: an exception snapshot
        raise WorkerFailed("subinterpreter failed: {0}".format(getattr(failed, "formatted", failed)))


def run_workers(setup, call, workers, args_for, before_destroy=None):
    """Creates `workers` interpreters one after another (timed: startup_ns), runs
    `setup` (source defining the worker function) in each, then drives each from
    its own thread, released together by a barrier: interpreter i evaluates
    `call` with its arguments bound to args_for(i) (a tuple of shareable values)
    and sends the result back through a channel.

    Returns (wall_ns, [result of each worker], startup_ns, what before_destroy()
    returned). Every interpreter and the results channel are destroyed before
    returning, whatever happens: `before_destroy` reads what the workers left
    in a channel while their interpreters still exist (3.13 unbinds an item
    from a destroyed interpreter)."""
    interps, results = [], Channel()
    t_create = perf_counter_ns()
    try:
        for _ in range(workers):
            interps.append(create())
        startup = perf_counter_ns() - t_create
        for interp in interps:
            run_in(interp, prelude() + setup, {})

        def drive(i):
            shared = {"_results": results.handle, "_index": i}
            for n, value in enumerate(args_for(i)):
                shared["_arg{0}".format(n)] = value
            args = ", ".join("_arg{0}".format(n) for n in range(len(args_for(i))))
            run_in(interps[i], "put(_results, (_index, {0}({1})))\n".format(call, args), shared)

        # Released together by run_threads' barrier; its wall runs from the first
        # start to the last end, entering and leaving the interpreters included
        # (microseconds).
        wall, _ = run_threads(drive, workers, lambda i: (i,))
        got = sorted(results.get() for _ in range(workers))
        left = before_destroy() if before_destroy else None
        return wall, [g[1] for g in got], startup, left
    finally:
        for interp in interps:
            destroy(interp)
        results.close()
