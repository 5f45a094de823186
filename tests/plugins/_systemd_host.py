"""A "systemd host" for the tests of the systemd plugins: this machine when systemd is its
running init, else a real systemd booted in a container on this machine.

The container: Debian's ``systemd-nspawn`` boots a clean Debian root as PID 1 of its own PID,
mount, UTS, IPC and network namespaces. The root is made once by
``tests/deb_packages/_debroot.py`` (debootstrap minbase, Python, systemd-sysv, dbus) and
never changed: ``--volatile=overlay`` puts a tmpfs over it, so what a test writes (units in
``/etc/systemd/system``, enable links) vanishes with the container. ``--private-network``
leaves it only its own loopback; ``--register=no --keep-unit`` asks no machined and no host
systemd (there is none). Before it starts, nspawn moves itself into a cgroup of its own
(``starling-test-<pid>-<random>`` under its present cgroup of each hierarchy it uses), so the
container's cgroups never meet another run's; they are removed when it stops.

The repository and the venv's Python are bind-mounted read-only at the same paths, and this
module, run as a script inside the container through ``nsenter``, is a small runner: it reads
``{"action", "params"}`` lines and answers each with the :class:`~transports.Result` that
``agent_core.testing.run_action`` gave there, so the tests' assertions run unchanged against
the container's systemd.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The systemd root: the packages installed besides the minimal base and Python.
PACKAGES = ("systemd-sysv", "dbus")
#: The environment of commands in the container (nothing of the caller's leaks in).
ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "PYTHONDONTWRITEBYTECODE": "1",
}
BOOT_TIMEOUT = 60.0


def host_runs_systemd() -> bool:
    """systemd is this machine's running init (``sd_booted()``'s test)."""
    return os.path.isdir("/run/systemd/system")


def why_no_container() -> str:
    """Why this machine cannot boot the systemd container ("" when it can)."""
    from tests.deb_packages._debroot import cache_for

    if os.geteuid() != 0:
        return "systemd-nspawn needs root"
    for tool, package in (
        ("systemd-nspawn", "systemd-container"),
        ("nsenter", "util-linux"),
        ("setpriv", "util-linux"),
    ):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian {package}; ./dev test installs it)"
    if not cache_for("bookworm", PACKAGES).exists() and shutil.which("debootstrap") is None:
        return "no cached systemd root and debootstrap is not installed (Debian debootstrap)"
    if not _cgroup_mounts():
        return "no cgroup hierarchy for systemd (neither cgroup2 nor name=systemd is mounted)"
    return ""


def systemd_root() -> Path:
    """The clean Debian root with systemd (made by debootstrap the first time, a few minutes)."""
    from tests.deb_packages._debroot import ensure_cache

    return ensure_cache("bookworm", PACKAGES)


def _cgroup_mounts() -> dict[str, str]:
    """The hierarchies systemd uses, as ``{hierarchy id in /proc/self/cgroup: mount point}``:
    cgroup2 (id ``0``) and the v1 ``name=systemd`` one."""
    out: dict[str, str] = {}
    with open("/proc/self/mounts") as fh:
        for line in fh:
            _, point, kind, opts, *_ = line.split()
            if kind == "cgroup2":
                out.setdefault("0", point)
            elif kind == "cgroup" and "name=systemd" in opts.split(","):
                out.setdefault("name=systemd", point)
    return out


def _own_cgroups(name: str) -> list[Path]:
    """``name`` under this process's cgroup of each hierarchy systemd uses."""
    mine: dict[str, str] = {}
    with open("/proc/self/cgroup") as fh:
        for line in fh:
            num, controllers, path = line.rstrip("\n").split(":", 2)
            mine["0" if num == "0" else controllers] = path
    return [
        Path(point) / mine[key].lstrip("/") / name
        for key, point in _cgroup_mounts().items()
        if key in mine
    ]


def _remove_cgroup(top: Path) -> None:
    """``rmdir`` a cgroup tree, deepest first (every process in it has ended)."""
    if not top.is_dir():
        return
    for dirpath, _, _ in sorted(os.walk(top), key=lambda d: -d[0].count("/")):
        try:
            os.rmdir(dirpath)
        except OSError:
            pass


def _remove_stale_cgroups(cgroups: list[Path]) -> None:
    """The empty cgroups of earlier containers whose test process died before it could stop
    them (``starling-test-<pid>-...`` where that pid is gone): rmdir only removes empty ones."""
    import psutil

    for parent in {c.parent for c in cgroups}:
        for entry in parent.glob("starling-test-*-*"):
            pid = entry.name.split("-")[2]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                _remove_cgroup(entry)


class SystemdHost:
    """This machine, whose running init is systemd."""

    where = "this host"

    def path(self, path: str) -> Path:
        """Where the systemd host's ``path`` is seen from this process."""
        return Path(path)

    def run(
        self, *argv: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` on the systemd host."""
        proc = subprocess.run(
            self._prefix() + list(argv), capture_output=True, text=True, timeout=timeout, env=ENV
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(argv)} on {self.where} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
            )
        return proc

    def _prefix(self) -> list[str]:
        return []

    def systemctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", *args, check=check)

    async def run_action(self, action: str, params: dict[str, Any] | None = None) -> Any:
        """:func:`agent_core.testing.run_action` on the systemd host."""
        from agent_core.testing import run_action

        return await run_action(action, params)

    @contextmanager
    def units(self, files: dict[str, str]) -> Iterator[None]:
        """Runtime unit files (``name -> text``) in ``/run/systemd/system``, loaded; stopped,
        disabled, reset and removed afterwards."""
        written = []
        try:
            for name, text in files.items():
                path = self.path(f"/run/systemd/system/{name}")
                path.write_text(text)
                written.append((name, path))
            self.systemctl("daemon-reload")
            yield
        finally:
            for name, path in written:
                self.systemctl("stop", name, check=False)
                self.systemctl("disable", name, check=False)
                self.systemctl("reset-failed", name, check=False)
                path.unlink()
            self.systemctl("daemon-reload")

    @contextmanager
    def temp_unit(self, exec_start: str = "/bin/sleep 300", install: bool = False) -> Iterator[str]:
        """A throwaway service ``starling-test-<random>.service`` running ``exec_start``
        (with an ``[Install]`` section when ``install``: it can be enabled)."""
        name = f"starling-test-{uuid.uuid4().hex[:8]}.service"
        text = f"[Unit]\nDescription=Starling test unit\n[Service]\nExecStart={exec_start}\nExecReload=/bin/true\n"
        if install:
            text += "[Install]\nWantedBy=multi-user.target\n"
        with self.units({name: text}):
            yield name

    def stop(self) -> None:
        pass


class SystemdContainer(SystemdHost):
    """A real systemd booted with ``systemd-nspawn`` (see the module doc)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.name = f"starling-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.where = f"the systemd container {self.name}"
        self.log = workdir / "nspawn.log"
        self.cgroups = _own_cgroups(self.name)
        self.nspawn: subprocess.Popen[bytes] | None = None
        self.pid1 = 0
        self._pid1: Any = None  # its psutil.Process: ended by PID only while it is that process
        self._runner: subprocess.Popen[bytes] | None = None

    def boot(self, root: Path, timeout: float = BOOT_TIMEOUT, private_network: bool = True) -> float:
        """Boot the Debian root ``root`` (made by :func:`systemd_root`); the seconds it took to
        reach ``running``. Raises with nspawn's log if it does not within ``timeout``.

        :param private_network: only its own loopback (``--private-network``); ``False``
            shares this machine's network namespace, so what runs in it reaches a server
            listening on this machine's loopback (a center, for the packaged agent's test).
        """
        _remove_stale_cgroups(self.cgroups)
        started = time.monotonic()
        argv = [
            "systemd-nspawn", "--quiet", "--boot", f"--directory={root}", f"--machine={self.name}",
            "--register=no", "--keep-unit", "--volatile=overlay",
            *(["--private-network"] if private_network else []), "--resolv-conf=off", "--timezone=off", "--link-journal=no", "--console=pipe",
            *(f"--bind-ro={p}" for p in self._binds()),
        ]  # fmt: skip
        # The shell moves itself into the container's own cgroups, then becomes nspawn, which
        # gets SIGTERM (and halts the container) if this process dies without stopping it.
        script = 'set -e; for d in $CGROUPS; do mkdir -p "$d"; echo $$ > "$d/cgroup.procs"; done; exec "$@"'
        with open(self.log, "wb") as fh:
            self.nspawn = subprocess.Popen(
                ["setpriv", "--pdeathsig", "TERM", "sh", "-c", script, "sh", *argv], stdout=fh, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
                env={**ENV, "CGROUPS": " ".join(map(str, self.cgroups))},
            )  # fmt: skip
        deadline = started + timeout
        while not self.pid1:
            if self.nspawn.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"systemd-nspawn did not start the container:\n{self._log()}")
            self.pid1 = self._find_pid1()
            time.sleep(0.05)
        import psutil

        self._pid1 = psutil.Process(self.pid1)
        said = ""
        while True:  # until its manager answers on /run/systemd/private, then until booted
            left = deadline - time.monotonic()
            if left <= 0 or self.nspawn.poll() is not None:
                raise AssertionError(f"the container's systemd did not boot: {said}\n{self._log()}")
            try:
                state = self.run(
                    "systemctl", "is-system-running", "--wait", check=False, timeout=left
                )
            except subprocess.TimeoutExpired:
                continue
            said = (state.stdout + state.stderr).strip()
            # "degraded": booted, some unit failed; the tests' own units are what they look at.
            if state.stdout.strip() in ("running", "degraded"):
                return time.monotonic() - started
            if state.stdout.strip() not in ("", "offline", "initializing", "starting"):
                raise AssertionError(f"the container's systemd is {said!r}:\n{self._log()}")
            time.sleep(0.1)

    def _binds(self) -> list[str]:
        """The repository, the venv and the Python the venv was made from (each once: not
        a folder inside another one of them)."""
        from tests.deb_packages._debroot import ROOT

        paths = sorted({os.path.realpath(p) for p in (ROOT, sys.prefix, sys.base_prefix)})
        return [p for p in paths if not any(p.startswith(q + "/") for q in paths)]

    def _find_pid1(self) -> int:
        """The host PID of the container's PID 1 (a descendant of nspawn)."""
        import psutil

        assert self.nspawn is not None
        try:
            children = psutil.Process(self.nspawn.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return 0
        for child in children:
            try:
                with open(f"/proc/{child.pid}/status") as fh:
                    nspid = next((ln.split()[1:] for ln in fh if ln.startswith("NSpid:")), [])
                if len(nspid) > 1 and nspid[-1] == "1" and child.name() == "systemd":
                    return child.pid
            except (OSError, psutil.NoSuchProcess):
                continue
        return 0

    def _log(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def path(self, path: str) -> Path:
        # The container's files through its PID 1's root: its own /run, its overlay /etc.
        return Path(f"/proc/{self.pid1}/root") / path.lstrip("/")

    def _prefix(self) -> list[str]:
        return ["nsenter", f"--target={self.pid1}", "--all"]

    async def run_action(self, action: str, params: dict[str, Any] | None = None) -> Any:
        import trio

        return await trio.to_thread.run_sync(self._ask, action, params or {})

    def _ask(self, action: str, params: dict[str, Any]) -> Any:
        import msgspec

        from agent_core.testing import Outcome
        from transports import Result, decode_value

        if self._runner is None or self._runner.poll() is not None:
            with open(self.workdir / "runner.log", "ab") as err:
                self._runner = subprocess.Popen(
                    [*self._prefix(), sys.executable, __file__], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=err, env=ENV,
                )  # fmt: skip
        assert self._runner.stdin is not None and self._runner.stdout is not None
        self._runner.stdin.write(json.dumps({"action": action, "params": params}).encode() + b"\n")
        self._runner.stdin.flush()
        line = self._runner.stdout.readline()
        if not line:
            log = (self.workdir / "runner.log").read_text(errors="replace")[-3000:]
            raise AssertionError(f"the runner in {self.where} ended:\n{log}")
        result = msgspec.json.decode(line, type=Result)
        return Outcome(result=result, value=decode_value(result.data) if result.data else None)

    def stop(self) -> None:
        """Stop the runner, halt the container (SIGTERM to nspawn halts it cleanly), and end
        what is left of them by PID; remove the container's cgroups."""
        if self._runner is not None:
            assert self._runner.stdin is not None
            self._runner.stdin.close()
            try:
                self._runner.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._runner.kill()
                self._runner.wait()
        if self.nspawn is not None and self.nspawn.poll() is None:
            self.nspawn.send_signal(signal.SIGTERM)
            try:
                self.nspawn.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.nspawn.send_signal(signal.SIGTERM)  # a second one: terminate at once
                try:
                    self.nspawn.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.nspawn.kill()
                    self.nspawn.wait()
        if self._pid1 is not None and self._pid1.is_running():
            self._pid1.kill()  # it ends with nspawn; if not, end it (and with it its namespace)
        for cgroup in self.cgroups:
            for _ in range(50):  # the kernel empties a cgroup shortly after its last process
                _remove_cgroup(cgroup)
                if not cgroup.exists():
                    break
                time.sleep(0.1)


def serve() -> None:
    """The runner (in the container): one action per line of stdin, its Result on stdout."""
    import msgspec
    import trio

    from agent_core.testing import run_action

    async def main() -> None:
        for line in sys.stdin.buffer:
            ask = json.loads(line)
            out = await run_action(ask["action"], ask["params"])
            sys.stdout.buffer.write(msgspec.json.encode(out.result) + b"\n")
            sys.stdout.buffer.flush()

    trio.run(main)


if __name__ == "__main__":
    # Run as a script, its folder leads sys.path: tests/plugins/<name> must not shadow a module.
    sys.path.remove(os.path.dirname(os.path.abspath(__file__)))
    serve()
