"""A proxy as several worker processes sharing its port.

One process can hold only as many agents as its open-files limit allows (the
limit is per process: 20,000 here, even for root), and runs on one core. So a
proxy with ``workers = N`` is a small supervisor and N worker processes:

* The supervisor reserves each ``tcp://`` listen address (a bound, never
  listening ``SO_REUSEPORT`` socket, which also resolves port 0 once for all)
  and starts the workers with those concrete addresses; it holds no agents
  and no center link, so it stays small and simple.
* Each worker is a whole proxy (``run_proxy``) that listens on the same
  addresses with ``SO_REUSEPORT``: the kernel spreads new agent connections
  over the workers, and any agent works with any worker (an agent's state is
  its connection; tasks and results live in the agent's journal and the
  center). QUIC and HTTP long-poll listeners are served by worker 0 alone (an
  HTTP session spans many connections, which must reach the same process).
* Each worker has its own link to each center, as ``<proxy_id>.w<i>``: the
  center routes dispatches to the worker holding an agent with no extra hop,
  and balances the workers of one proxy as one host (``Hello.worker``).
* A worker that dies is started again (after 0.5 s, doubling to 10 s while it
  keeps dying); its agents reconnect meanwhile (to any worker) and replay
  their journals, so nothing is lost or run twice. SIGTERM/SIGINT stop the
  workers (SIGTERM, then SIGKILL after 10 s), each by its own PID; a
  supervisor killed outright takes its workers with it (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import trio

from transports import reserve_port, split_host_port

from .._config import ProxyConfig

log = logging.getLogger("starling.proxy")

#: Seconds a stopping worker gets between SIGTERM and SIGKILL.
STOP_GRACE = 10.0
#: Restart delay after a worker died, doubling up to the maximum while it keeps dying.
RESTART_MIN, RESTART_MAX = 0.5, 10.0
#: A worker that ran this long before dying is restarted after the minimum delay again.
HEALTHY_AFTER = 30.0


def worker_count(cfg: ProxyConfig) -> int:
    """``cfg.workers``, with 0 meaning one per CPU."""
    if cfg.workers < 0:
        raise SystemExit(f"proxy workers must be >= 0, not {cfg.workers}")
    return cfg.workers or os.cpu_count() or 1


class Workers:
    """The supervisor's view of its workers (PIDs, restarts), written to
    ``status_file`` when given, so operators and tests can find each PID."""

    def __init__(self, count: int, status_file: str = "") -> None:
        self.count = count
        self.pids: dict[str, int] = {}
        self.restarts: dict[str, int] = {f"w{i}": 0 for i in range(count)}
        self.status_file = status_file
        self.listen: list[str] = []

    def write_status(self) -> None:
        if not self.status_file:
            return
        tmp = Path(self.status_file + ".tmp")
        tmp.write_text(json.dumps({"supervisor": os.getpid(), "listen": self.listen, "pids": self.pids, "restarts": self.restarts}))
        tmp.replace(self.status_file)


def _reserve(listen: list[str]) -> tuple[list[str], list[Any]]:
    """Concrete URLs for ``listen`` and the sockets holding their ports."""
    urls, held = [], []
    for url in listen:
        if not url.startswith("tcp://"):
            urls.append(url)
            continue
        host, port = split_host_port(url, 8471)
        sock = reserve_port(host, port)
        held.append(sock)
        bound = sock.getsockname()
        urls.append(f"tcp://{host if ':' not in host else '[' + host + ']'}:{bound[1]}")
    return urls, held


async def _wait_exit(proc: subprocess.Popen[bytes]) -> None:
    """Wait for ``proc`` to exit (a pidfd turns readable), and reap it."""
    fd = os.pidfd_open(proc.pid)
    try:
        await trio.lowlevel.wait_readable(fd)
    finally:
        os.close(fd)
    proc.wait()


async def _keep_worker(name: str, argv: list[str], env: dict[str, str], workers: Workers) -> None:
    delay = RESTART_MIN
    while True:
        started = time.monotonic()
        # Started from this (the main) thread, not a trio worker thread: the
        # worker's PR_SET_PDEATHSIG fires when the thread that forked it ends.
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)  # noqa: ASYNC220 - a fork/exec, not a wait
        workers.pids[name] = proc.pid
        workers.write_status()
        log.info("proxy worker %s started (pid %d)", name, proc.pid)
        try:
            await _wait_exit(proc)
        finally:
            if proc.poll() is None:
                with trio.CancelScope(shield=True):
                    proc.send_signal(signal.SIGTERM)
                    with trio.move_on_after(STOP_GRACE):
                        await _wait_exit(proc)
                    if proc.poll() is None:
                        proc.kill()
                        proc.wait()
        workers.pids.pop(name, None)
        workers.restarts[name] += 1
        workers.write_status()
        delay = RESTART_MIN if time.monotonic() - started > HEALTHY_AFTER else min(delay * 2, RESTART_MAX)
        log.warning("proxy worker %s (pid %d) exited with %s; restarting in %.1fs", name, proc.pid, proc.returncode, delay)
        await trio.sleep(delay)


async def run_workers(cfg: ProxyConfig, config_path: str | None, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Supervise ``cfg.workers`` proxy workers until SIGTERM/SIGINT."""
    count = worker_count(cfg)
    listen, held = _reserve(cfg.listen)
    workers = Workers(count, cfg.workers_status_file)
    workers.listen = listen
    env = dict(os.environ, STARLING_PROXY_LISTEN=",".join(listen), **{_SUPERVISOR_ENV: str(os.getpid())})
    if not cfg.advertise:
        env["STARLING_PROXY_ADVERTISE"] = ",".join(listen)
    try:
        async with trio.open_nursery() as nursery:
            for i in range(count):
                name = f"w{i}"
                argv = [sys.executable, "-m", "center.proxy._workers", config_path or "", name]
                nursery.start_soon(_keep_worker, name, argv, env, workers)
            log.info("proxy %s: %d workers on %s", cfg.proxy_id, count, ", ".join(listen))
            task_status.started(workers)
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    log.info("signal received; stopping the workers")
                    nursery.cancel_scope.cancel()
                    break
    finally:
        for sock in held:
            sock.close()


def die_with_supervisor(supervisor: int) -> None:
    """Have the kernel send this worker SIGTERM when its supervisor dies, even
    by SIGKILL (Linux ``PR_SET_PDEATHSIG``, through cffi's ABI mode), so no
    worker outlives its supervisor holding agents and a center link; exit at
    once if it is already gone."""
    try:
        import cffi

        ffi = cffi.FFI()
        ffi.cdef("int prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5);")
        ffi.dlopen(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except Exception as exc:  # not Linux/glibc, or no cffi backend
        log.warning("proxy worker cannot follow its supervisor's death: %s", exc)
    if supervisor and os.getppid() != supervisor:
        raise SystemExit("the proxy supervisor is gone")


_PR_SET_PDEATHSIG = 1
#: The supervisor's PID, for its workers (outside the STARLING_PROXY_* config names).
_SUPERVISOR_ENV = "STARLING_WORKER_SUPERVISOR"


def main_worker(config_path: str, name: str) -> int:
    """Entry of one worker process (started by :func:`run_workers`)."""
    from transports import set_log_context, setup_logging

    die_with_supervisor(int(os.environ.get(_SUPERVISOR_ENV, "0")))

    from .._config import load
    from .._server import run_proxy

    cfg = load(ProxyConfig, config_path or None, "proxy")
    setup_logging(cfg.log_level, cfg.log_file, role="proxy")
    set_log_context(proxy_id=cfg.proxy_id, idc=cfg.idc, worker=name)
    trio.run(lambda: run_proxy(cfg, worker=name, settle=True))
    return 0


if __name__ == "__main__":
    sys.exit(main_worker(sys.argv[1], sys.argv[2]))
