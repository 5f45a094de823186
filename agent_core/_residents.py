"""The resident supervisor: keeps plugins' long-running processes alive.

A plugin that wants a long-running process (a metrics exporter, a log
shipper) registers itself in the ``starling.residents`` entry-point group as
well as in ``starling.plugins``. Only those plugins are imported when the agent
starts; every other plugin stays lazy. Each one's ``starling_residents`` hook
returns :class:`~agent_core.Resident` declarations, and the supervisor:

* starts each resident in its own session and process group, its stdout and
  stderr appended to files under ``<state_dir>/residents/<name>/`` that are
  rotated (copy-truncate, one old generation) past ``log_max_bytes``;
* probes ``health_url`` (plain HTTP/1.0 GET on loopback) every
  ``check_interval`` and restarts after ``check_failures`` failed probes in a
  row (probes fail freely during ``start_grace`` until the first success);
* restarts a resident that exits, with jittered exponential backoff between
  ``backoff_min`` and ``backoff_max`` (a run of ``stable_after`` seconds resets
  it), so a crashing resident costs the host almost nothing;
* sums RSS and CPU over the resident's whole process tree: over ``max_rss_mb``
  it is restarted, over ``cpu_percent`` of a core it is reniced to
  ``penalty_nice`` (and restored under half of it);
* kills every tree when it is cancelled (the agent stops); if the agent dies
  without cleaning up (kill -9, OOM killer) the kernel SIGKILLs each resident
  (``PR_SET_PDEATHSIG``, armed between fork and exec), and at start the
  supervisor kills whatever a previous agent left behind (recorded pid + start
  time, so a recycled pid is never touched).

``status()`` is the heartbeat's ``Health.residents``; the same map is written
to ``<state_dir>/residents/status.json`` for the plugins' own status actions.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio

from ._index import entries
from ._plugins import PluginHost
from ._resident import Resident
from ._runner import kill_tree

log = logging.getLogger("starling.residents")

RESIDENT_GROUP = "starling.residents"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
#: How often the watcher wakes to rotate logs and see whether a check is due.
TICK = 1.0


def resident_plugin_names(group: str = RESIDENT_GROUP) -> list[str]:
    """Plugins that registered in ``starling.residents`` (without importing them)."""
    return sorted({ep.name for ep in entries(group)})


def parse_health_url(url: str) -> tuple[str, int, str]:
    """Split a health URL into ``(host, port, path)``; only loopback HTTP is allowed.

    :raises ValueError: with the reason, for anything else.
    """
    parts = urlsplit(url)
    if parts.scheme != "http":
        raise ValueError(f"health_url {url!r}: only http:// is probed")
    host = parts.hostname or ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise ValueError(f"health_url {url!r}: the host must be loopback (127.0.0.1)")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"health_url {url!r}: {exc}") from exc
    if not port:
        raise ValueError(f"health_url {url!r}: give the port explicitly")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return ("127.0.0.1" if host == "localhost" else host), port, path


async def probe_http(url: str) -> tuple[bool, str]:
    """GET ``url`` (loopback only) and say whether it answered 2xx, and why not.

    Uses a bare trio socket and HTTP/1.0 so the agent needs no HTTP client
    library for it. Never raises for network trouble; ``ValueError`` for a URL
    :func:`parse_health_url` refuses. Bound it with ``trio.move_on_after``.
    """
    host, port, path = parse_health_url(url)
    request = (
        f"GET {path} HTTP/1.0\r\nHost: {host}:{port}\r\n"
        "User-Agent: starling-agent\r\nConnection: close\r\n\r\n"
    ).encode()
    try:
        # Bytes: a str host goes through the idna codec, which would stay imported in the
        # agent for good (loopback names are ASCII; see transports._tcp._ascii).
        stream = await trio.open_tcp_stream(host.encode("ascii"), port)
    except UnicodeError:
        return False, f"connect: host {host!r} is not ASCII"
    except OSError as exc:
        return False, f"connect: {exc.strerror or exc}"
    head = b""
    try:
        async with stream:
            await stream.send_all(request)
            while b"\r\n" not in head and len(head) < 4096:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                head += chunk
    except (trio.BrokenResourceError, OSError) as exc:
        return False, f"connection broken: {exc}"
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    fields = line.split()
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        return False, f"not an HTTP answer: {line[:60]!r}"
    status = int(fields[1])
    return 200 <= status < 300, f"HTTP {status}"


@dataclass
class _Slot:
    """One resident and what the supervisor knows of it."""

    resident: Resident
    plugin: str
    directory: Path
    state: str = "starting"
    pid: int = 0
    restarts: int = 0
    last: str = ""
    niced: bool = False
    retry_in: float = 0.0
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    def describe(self) -> str:
        if self.state in ("running", "starting"):
            text = f"{self.state} pid {self.pid} restarts {self.restarts}"
            if self.niced:
                text += " niced"
        elif self.state == "backoff":
            text = f"backoff {self.retry_in:.1f}s restarts {self.restarts}"
        else:
            text = self.state
        if self.last:
            text += f" (last: {self.last})"
        return text


def _rotate(path: Path, max_bytes: int) -> None:
    """Copy-truncate ``path`` to ``path.1`` once it is over ``max_bytes``.

    The child keeps its O_APPEND descriptor, so it writes at the new end; what
    it writes between the copy and the truncate is lost (as with logrotate's
    copytruncate), which is the price of not piping logs through the agent.
    """
    try:
        if path.stat().st_size <= max_bytes:
            return
    except OSError:
        return  # not written yet (or unreadable: nothing to rotate)
    try:
        shutil.copyfile(path, path.with_name(path.name + ".1"))
        os.truncate(path, 0)
    except OSError as exc:
        log.warning("cannot rotate %s: %s", path, exc)


def _tree(pid: int) -> list[Any]:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


class ResidentSupervisor:
    """Starts, watches and restarts every resident the plugins declare.

    :param host: the agent's plugin host (plugins are loaded through it).
    :param state_dir: the agent's state directory; residents live under
        ``state_dir/residents/<name>/`` (pid file, ``out.log``, ``err.log``, cwd).
    :param config: the agent's ``plugin_config`` (each plugin's hook receives
        its own section as ``config``).
    :param plugins: plugin names to ask for residents; default: every plugin
        registered in the ``starling.residents`` entry-point group.
    """

    def __init__(
        self,
        host: PluginHost,
        state_dir: Path,
        *,
        config: Mapping[str, Mapping[str, Any]] | None = None,
        plugins: Iterable[str] | None = None,
    ) -> None:
        self.host = host
        self.root = Path(state_dir) / "residents"
        self.config = config or {}
        self._plugins = list(plugins) if plugins is not None else None
        self._slots: dict[str, _Slot] = {}
        self._refused: dict[str, str] = {}
        self._nursery: trio.Nursery | None = None

    # -- declarations -------------------------------------------------------------

    def _declared(self, name: str) -> list[Resident]:
        if name in self.host.disabled:
            return []
        try:
            plugin = self.host.load(name)
        except Exception as exc:  # unknown plugin name in the group
            self._refused[name] = f"refused: {exc}"
            return []
        if plugin.error or plugin.unavailable:
            self._refused[name] = f"unavailable: {plugin.error or plugin.unavailable}"
            return []
        out: list[Resident] = []
        for impl in self.host.pm.hook.starling_residents.get_hookimpls():
            if impl.plugin_name != name:
                continue
            kwargs = {"config": dict(self.config.get(name, {}))} if "config" in impl.argnames else {}
            try:
                declared = impl.function(**kwargs) or []
            except Exception as exc:
                log.exception("plugin %s: starling_residents raised", name)
                self._refused[name] = f"refused: starling_residents raised {type(exc).__name__}: {exc}"
                continue
            if not isinstance(declared, list | tuple) or not all(isinstance(r, Resident) for r in declared):
                self._refused[name] = "refused: starling_residents must return a list of Resident"
                continue
            out.extend(declared)
        return out

    def _check(self, plugin: str, res: Resident, found: Mapping[str, object]) -> str | None:
        if not res.name.startswith(plugin + "."):
            return f"resident name must start with '{plugin}.'"
        if res.name in found:
            return "declared twice"
        if not res.argv:
            return "empty argv"
        if res.health_url:
            try:
                parse_health_url(res.health_url)
            except ValueError as exc:
                return str(exc)
        if res.check_interval <= 0 or res.backoff_min <= 0 or res.backoff_max < res.backoff_min:
            return "check_interval and backoff_min must be > 0, backoff_max >= backoff_min"
        return None

    def _collect(self) -> dict[str, tuple[str, Resident]]:
        """Ask every resident plugin again: ``{resident name: (plugin, declaration)}``.

        Refusals are recorded in ``self._refused`` (they show in :meth:`status`).
        """
        self._refused = {}
        found: dict[str, tuple[str, Resident]] = {}
        names = self._plugins if self._plugins is not None else resident_plugin_names()
        for plugin in names:
            for res in self._declared(plugin):
                problem = self._check(plugin, res, found)
                if problem:
                    log.error("resident %s of plugin %s refused: %s", res.name, plugin, problem)
                    self._refused[res.name] = f"refused: {problem}"
                    continue
                found[res.name] = (plugin, res)
        return found

    def discover(self) -> list[str]:
        """Load the resident plugins and record their declarations; returns the names kept."""
        for name, (plugin, res) in self._collect().items():
            self._slots[name] = _Slot(res, plugin, self.root / name)
        return sorted(self._slots)

    def reload(self) -> dict[str, list[str]]:
        """Ask the plugins again (after a plugin package was installed, rolled back,
        enabled or disabled) and converge without restarting the agent: new
        residents start, residents no longer declared (or whose plugin is now
        disabled) are stopped and their trees killed, changed ones are restarted,
        unchanged ones are left alone. Before :meth:`run` starts (or after it
        ended) it only forgets the declarations, which ``run`` reads afresh.

        :returns: ``{"started": [...], "stopped": [...]}`` (a changed one is in both).
        """
        if self._nursery is None:
            self._slots.clear()
            self._refused.clear()
            return {"started": [], "stopped": []}
        wanted = self._collect()
        stopped, started = [], []
        for name, slot in list(self._slots.items()):
            if name not in wanted or wanted[name][1] != slot.resident:
                slot.scope.cancel()
                del self._slots[name]
                stopped.append(name)
        for name, (plugin, res) in wanted.items():
            if name not in self._slots:
                slot = _Slot(res, plugin, self.root / name)
                self._slots[name] = slot
                self._nursery.start_soon(self._keep, slot)
                started.append(name)
        self._publish()
        return {"started": sorted(started), "stopped": sorted(stopped)}

    # -- reporting ------------------------------------------------------------------

    def status(self) -> dict[str, str]:
        """``{"agent.exporter.node": "running pid 123 restarts 2", ...}`` for the heartbeat."""
        out = dict(self._refused)
        out.update({name: slot.describe() for name, slot in self._slots.items()})
        return out

    def _publish(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = self.root / "status.json.tmp"
            tmp.write_text(json.dumps(self.status(), indent=1, sort_keys=True))
            tmp.replace(self.root / "status.json")
        except OSError as exc:
            log.warning("cannot write resident status: %s", exc)

    def _set(self, slot: _Slot, state: str, **changes: Any) -> None:
        slot.state = state
        for key, value in changes.items():
            setattr(slot, key, value)
        self._publish()

    # -- running --------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Keep every resident alive until cancelled, then kill every tree.

        Run it in a nursery you own (``nursery.start_soon(sup.run)``, or
        ``await nursery.start(sup.run)`` to wait until the declarations are read).
        """
        if not self._slots:
            self.discover()
        self._publish()
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for slot in self._slots.values():
                    nursery.start_soon(self._keep, slot)
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._nursery = None

    def _kill_leftover(self, slot: _Slot) -> None:
        """A tree a previous agent left running (it died without cleaning up)."""
        import psutil

        pidfile = slot.directory / "pid"
        try:
            pid_text, created_text = pidfile.read_text().split()
            pid, created = int(pid_text), float(created_text)
        except (OSError, ValueError):
            return
        try:
            same = abs(psutil.Process(pid).create_time() - created) < 0.01
        except psutil.Error:
            same = False
        if same:
            log.warning("resident %s: killing tree %d left by a previous agent", slot.resident.name, pid)
            kill_tree(pid, pid)
        pidfile.unlink(missing_ok=True)

    async def _keep(self, slot: _Slot) -> None:
        with slot.scope:
            await self._keep_alive(slot)

    async def _keep_alive(self, slot: _Slot) -> None:
        res = slot.resident
        slot.directory.mkdir(parents=True, exist_ok=True)
        self._kill_leftover(slot)
        delay = res.backoff_min
        while True:
            began = trio.current_time()
            reason = await self._run_once(slot)
            if trio.current_time() - began >= res.stable_after:
                delay = res.backoff_min
            wait = min(res.backoff_max, delay * random.uniform(0.5, 1.5))
            log.warning("resident %s: %s; restarting in %.1fs", res.name, reason, wait)
            slot.restarts += 1
            self._set(slot, "backoff", last=reason, retry_in=wait, pid=0, niced=False)
            await trio.sleep(wait)
            delay = min(delay * 2, res.backoff_max)

    async def _run_once(self, slot: _Slot) -> str:
        """Start the resident once and return why it had to stop."""
        res = slot.resident
        out_path, err_path = slot.directory / "out.log", slot.directory / "err.log"
        for path in (out_path, err_path):
            _rotate(path, res.log_max_bytes)
        env = dict(os.environ)
        env.update(dict(res.env))
        env["STARLING_RESIDENT_DIR"] = str(slot.directory)
        argv = list(res.argv)
        if shutil.which(argv[0]) is None:
            return f"cannot start: {argv[0]} not found or not executable"
        if _ARM_PDEATHSIG:
            env["STARLING_AGENT_PID"] = str(os.getpid())
            argv = [sys.executable, "-I", "-S", "-c", _PDEATHSIG_EXEC, *argv]
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        out_fd = os.open(out_path, flags, 0o640)
        err_fd = os.open(err_path, flags, 0o640)
        try:
            # Forked from this (the main) thread on purpose: the parent-death
            # signal fires when the *thread* that forked exits, and trio's
            # open_process forks from a worker thread that exits when idle.
            proc = subprocess.Popen(  # noqa: ASYNC220 - a fast vfork+exec, on purpose in this thread
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out_fd,
                stderr=err_fd,
                cwd=res.cwd or str(slot.directory),
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            return f"cannot start: {exc.strerror or exc}"
        finally:
            os.close(out_fd)
            os.close(err_fd)
        self._record_pid(slot, proc.pid)
        log.info("resident %s started, pid %d", res.name, proc.pid)
        self._set(slot, "starting" if res.health_url else "running", pid=proc.pid, niced=False)
        reason = ""
        try:
            async with trio.open_nursery() as nursery:

                async def wait_exit() -> None:
                    nonlocal reason
                    rc = await _wait_process(proc)
                    reason = f"killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
                    nursery.cancel_scope.cancel()

                async def watch() -> None:
                    nonlocal reason
                    reason = await self._watch(slot, proc.pid, (out_path, err_path))
                    nursery.cancel_scope.cancel()

                nursery.start_soon(wait_exit)
                nursery.start_soon(watch)
        finally:
            with trio.CancelScope(shield=True):
                kill_tree(proc.pid, proc.pid)
                with trio.move_on_after(5):
                    await _wait_process(proc)
                (slot.directory / "pid").unlink(missing_ok=True)
        return reason

    def _record_pid(self, slot: _Slot, pid: int) -> None:
        import psutil

        try:
            created = psutil.Process(pid).create_time()
        except psutil.Error:
            return
        (slot.directory / "pid").write_text(f"{pid} {created}\n")

    async def _watch(self, slot: _Slot, pid: int, logs: tuple[Path, ...]) -> str:
        """Rotate logs every tick; probe health and limits when due. Returns a
        reason to restart (the caller then kills the tree)."""
        res = slot.resident
        started = trio.current_time()
        next_check = started + min(TICK, res.check_interval)
        healthy_once = not res.health_url
        failures = 0
        cpu_prev: tuple[float, float] | None = None
        base_nice = _nice_of(pid)
        while True:
            await trio.sleep(max(0.0, min(TICK, next_check - trio.current_time())))
            for path in logs:
                _rotate(path, res.log_max_bytes)
            now = trio.current_time()
            if now < next_check:
                continue
            # Until the first good probe, look every second so "running" shows soon.
            next_check = now + (res.check_interval if healthy_once else min(TICK, res.check_interval))

            tree = _tree(pid)
            rss, cpu = _usage(tree)
            if rss > res.max_rss_mb * 2**20:
                return f"rss {rss / 2**20:.0f} MB over max_rss_mb {res.max_rss_mb}"
            if cpu_prev is not None and now > cpu_prev[1]:
                share = 100.0 * (cpu - cpu_prev[0]) / (now - cpu_prev[1])
                if share > res.cpu_percent and not slot.niced:
                    log.warning("resident %s uses %.0f%% CPU (> %g%%); renicing to %d", res.name, share, res.cpu_percent, res.penalty_nice)
                    _renice(tree, res.penalty_nice)
                    self._set(slot, slot.state, niced=True)
                elif share < res.cpu_percent / 2 and slot.niced:
                    _renice(tree, base_nice)
                    self._set(slot, slot.state, niced=False)
            cpu_prev = (cpu, now)

            if res.health_url:
                ok, detail = False, f"no answer within {res.check_timeout:g}s"
                with trio.move_on_after(res.check_timeout):
                    ok, detail = await probe_http(res.health_url)
                if ok:
                    failures = 0
                    if not healthy_once:
                        healthy_once = True
                        next_check = trio.current_time() + res.check_interval
                        self._set(slot, "running")
                elif healthy_once or trio.current_time() - started >= res.start_grace:
                    failures += 1
                    if failures >= res.check_failures:
                        return f"health check failed {failures}x: {detail}"


#: Run in the resident's process between fork and exec (``python -I -S -c``):
#: arm PR_SET_PDEATHSIG so the resident is SIGKILLed if the agent dies without
#: cleaning up (kill -9, OOM killer), then exec the resident. If the agent died
#: before the signal was armed, the parent is already someone else: give up.
_PDEATHSIG_EXEC = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)\n"
    "if os.getppid() != int(os.environ.pop('STARLING_AGENT_PID')):\n"
    "    sys.exit(70)\n"
    "os.execvp(sys.argv[1], sys.argv[1:])\n"
)
_ARM_PDEATHSIG = sys.platform.startswith("linux")


async def _wait_process(proc: subprocess.Popen[bytes]) -> int:
    """Wait for ``proc`` to exit without blocking trio; returns its return code."""
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # not Linux >= 5.3, or already reaped
        fd = -1
    try:
        if fd >= 0:
            await trio.lowlevel.wait_readable(fd)
        else:
            while True:  # polling fallback
                if proc.poll() is not None:
                    break
                await trio.sleep(0.2)
    finally:
        if fd >= 0:
            os.close(fd)
    return proc.wait()


def _usage(tree: list[Any]) -> tuple[int, float]:
    """RSS bytes and CPU seconds summed over a process tree."""
    import psutil

    rss, cpu = 0, 0.0
    for proc in tree:
        try:
            rss += proc.memory_info().rss
            times = proc.cpu_times()
            cpu += times.user + times.system
        except psutil.Error:
            continue
    return rss, cpu


def _nice_of(pid: int) -> int:
    try:
        return os.getpriority(os.PRIO_PROCESS, pid)
    except OSError:
        return 0


def _renice(tree: list[Any], value: int) -> None:
    import psutil

    for proc in tree:
        try:
            proc.nice(value)
        except (psutil.Error, OSError) as exc:
            # Raising priority back needs CAP_SYS_NICE; stay niced then.
            log.info("cannot renice %s to %d: %s", proc.pid, value, exc)
