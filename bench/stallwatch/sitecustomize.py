"""Diagnostics for terminal stalls (issue 10): put this directory first on PYTHONPATH of
every role, e.g. ``PYTHONPATH=bench/stallwatch bench/terminal.py ...``.

Each process that calls ``trio.run`` gets an instrument that writes to
``$STALLWATCH_DIR/<pid>.log`` (one line each, tab-separated, monotonic time first):

* ``step``  a task step longer than ``$STALLWATCH_MS`` (default 20 ms): the task's name, and
            of its wall time: ``cpu`` on a CPU, ``runq`` runnable but waiting for a CPU
            (the machine is busy), ``blocked`` asleep in the kernel (I/O such as an fsync,
            or waiting for the GIL) — from the thread's /proc schedstat;
* ``wait``  a runnable task that waited longer than that for the loop (scheduling lag);
* ``gc``    a garbage collection longer than that, with its generation;
* ``io``    the loop's wait for I/O took longer than the timeout it asked for (the
            process was not scheduled by the OS, or a thread held the GIL).

Not part of Starling; the bench reads nothing from it.
"""

from __future__ import annotations

import gc
import os
import sys
import time

_DIR = os.environ.get("STALLWATCH_DIR")
_LIMIT = float(os.environ.get("STALLWATCH_MS", "20")) / 1000

if _DIR:
    import trio
    from trio.abc import Instrument

    _out = open(os.path.join(_DIR, f"{os.getpid()}.log"), "a", buffering=1)
    _out.write(f"{time.monotonic():.4f}\tstart\t{' '.join(sys.argv)[:200]}\n")

    def _log(kind: str, seconds: float, what: str) -> None:
        _out.write(f"{time.monotonic():.4f}\t{kind}\t{seconds * 1000:.1f}\t{what}\n")

    class _Watch(Instrument):
        def __init__(self) -> None:
            self.scheduled: dict[int, float] = {}
            self.step_start = 0.0
            self.io_start = 0.0
            self.io_timeout = 0.0

        def task_scheduled(self, task: object) -> None:
            self.scheduled[id(task)] = time.perf_counter()

        def before_task_step(self, task: object) -> None:
            now = time.perf_counter()
            since = self.scheduled.pop(id(task), None)
            if since is not None and now - since > _LIMIT:
                _log("wait", now - since, getattr(task, "name", "?"))
            self.step_start = now
            self.step_sched = _sched()

        def after_task_step(self, task: object) -> None:
            took = time.perf_counter() - self.step_start
            if took > _LIMIT:
                cpu, runq = (b - a for a, b in zip(self.step_sched, _sched(), strict=True))
                blocked = took - cpu - runq
                _log("step", took, f"cpu {cpu * 1000:.1f} runq {runq * 1000:.1f} blocked {blocked * 1000:.1f}\t{getattr(task, 'name', '?')}")

        def task_exited(self, task: object) -> None:
            self.scheduled.pop(id(task), None)

        def before_io_wait(self, timeout: float) -> None:
            self.io_start, self.io_timeout = time.perf_counter(), timeout

        def after_io_wait(self, timeout: float) -> None:
            over = time.perf_counter() - self.io_start - self.io_timeout
            if over > _LIMIT:
                _log("io", over, f"asked {self.io_timeout * 1000:.1f} ms")

    _schedfd = os.open(f"/proc/self/task/{__import__('threading').get_native_id()}/schedstat", os.O_RDONLY)

    def _sched() -> tuple[float, float]:
        """(seconds on a CPU, seconds runnable but waiting for one) of the loop's thread."""
        cpu, runq, _ = os.pread(_schedfd, 100, 0).split()
        return int(cpu) / 1e9, int(runq) / 1e9

    _gc_start = [0.0, 0.0]

    #: per generation: [collections, CPU seconds, longest CPU seconds] since the last ``gcsum``
    _gc_sum = [[0, 0.0, 0.0] for _ in range(3)]
    _gc_last = [time.monotonic()]

    def _gc(phase: str, info: dict) -> None:
        if phase != "start":
            gen = info.get("generation", 0)
            cpu = time.thread_time() - _gc_start[1]
            acc = _gc_sum[gen]
            acc[0] += 1
            acc[1] += cpu
            acc[2] = max(acc[2], cpu)
            now = time.monotonic()
            if now - _gc_last[0] >= 2.0:
                _out.write(f"{now:.4f}\tgcsum\t{now - _gc_last[0]:.2f}\t" + " ".join(
                    f"gen{g}:n={a[0]},cpu={a[1] * 1000:.1f},max={a[2] * 1000:.1f}" for g, a in enumerate(_gc_sum)) + "\n")
                _gc_last[0] = now
                for a in _gc_sum:
                    a[:] = [0, 0.0, 0.0]
        if phase == "start":
            _gc_start[0] = time.perf_counter()
            _gc_start[1] = time.thread_time()
        else:
            took = time.perf_counter() - _gc_start[0]
            if took > _LIMIT:
                cpu = time.thread_time() - _gc_start[1]
                what = f"gen{info.get('generation')} cpu {cpu * 1000:.1f} collected {info.get('collected')}"
                if info.get("generation") == 2 and os.environ.get("STALLWATCH_TYPES"):
                    from collections import Counter

                    objs = gc.get_objects()
                    top = Counter(type(o).__qualname__ for o in objs).most_common(12)
                    what += f" tracked {len(objs)} frozen {gc.get_freeze_count()} top {top}"
                    del objs
                _log("gc", took, what)

    gc.callbacks.append(_gc)
    if os.environ.get("STALLWATCH_GC_THRESHOLD"):  # to compare settings: "700,10,10" is CPython's
        gc.set_threshold(*(int(x) for x in os.environ["STALLWATCH_GC_THRESHOLD"].split(",")))

    _run = trio.run

    def run(*args, **kw):  # type: ignore[no-untyped-def]
        kw["instruments"] = [*kw.get("instruments", ()), _Watch()]
        return _run(*args, **kw)

    trio.run = run
