"""A clean Debian root to install packages into, like a packager's test host.

``debootstrap`` makes it once (minbase + python3.11) in the user's cache
(:func:`cache_dir`), shared by every clone on the machine; each test module copies
it, so every run starts clean. Commands run in
it with ``chroot``; a long-running program (the agent) runs in its own mount
namespace with ``/proc`` mounted there, so nothing outlives it on this machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MIRROR = "http://deb.debian.org/debian"
PYV = "3.11"
#: Debian suite -> the Python its packages are built for.
SUITES = {"bookworm": "3.11", "trixie": "3.13"}


#: Bumped when what :func:`ensure_cache` puts in a root changes, so no older root is reused.
ROOT_FORMAT = 1


def cache_dir() -> Path:
    """``$STARLING_TEST_CACHE``, else ``~/.cache/starling-tests`` (``$XDG_CACHE_HOME``
    honoured): outside the worktree, so a fresh clone on the same machine (CI's)
    reuses the roots instead of spending minutes on debootstrap again."""
    if os.environ.get("STARLING_TEST_CACHE"):
        return Path(os.environ["STARLING_TEST_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "starling-tests"


def cache_for(suite: str, include: tuple[str, ...] = ()) -> Path:
    """Where the clean root of ``suite`` (with the extra packages ``include``) is kept."""
    return cache_dir() / "-".join((f"debroot{ROOT_FORMAT}", suite, *include))


CACHE = cache_for("bookworm")


def why_not(suite: str = "bookworm") -> str:
    """Why this machine cannot run the package tests ("" when it can)."""
    if os.geteuid() != 0:
        return "needs root (dpkg into a chroot)"
    for tool in ("dpkg-deb", "chroot", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not cache_for(suite).exists() and shutil.which("debootstrap") is None:
        return "no cached Debian root and debootstrap is not installed (apt install debootstrap)"
    if not (BIN / "nfpm").exists() and shutil.which("nfpm") is None:
        return "nfpm is not installed (./dev package)"
    return ""


def ensure_cache(suite: str = "bookworm", include: tuple[str, ...] = ()) -> Path:
    """The cached clean root, made with debootstrap the first time (a few minutes).

    :param include: Debian packages installed in it besides the minimal base and Python
        (``("systemd-sysv", "dbus")`` for a root that boots systemd); each set has its own cache.
    """
    import fcntl

    cache = cache_for(suite, include)
    if cache.exists():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    # Two pytest-xdist workers may want the same root at once: one builds it, the other waits.
    with open(cache.with_name(cache.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cache.exists():
            return cache
        tmp = cache.with_name(cache.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        packages = ",".join((f"python{SUITES[suite]}", "ca-certificates", *include))
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={packages}", suite, str(tmp), MIRROR],
            check=True, capture_output=True, timeout=900,
        )
        tmp.rename(cache)
    return cache


def build_packages(out: Path, version: str, roles: str = "agent", formats: str = "deb", pyv: str = PYV) -> list[Path]:
    """``contrib/packaging/build.sh`` for ``version``; the package files it made."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["bash", str(ROOT / "contrib" / "packaging" / "build.sh"), "--python", pyv, "--version", version,
         "--roles", roles, "--formats", formats, "--out", str(out)],
        capture_output=True, text=True, timeout=900, env=dict(os.environ, NFPM=str(BIN / "nfpm") if (BIN / "nfpm").exists() else "nfpm"),
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return sorted(p for p in out.iterdir() if version in p.name)


# $1 is the root, the rest the command; /proc is mounted only in the new mount namespace.
_WITH_PROC = 'mount -t proc proc "$1/proc" && root="$1" && shift && exec chroot "$root" "$@"'


class DebRoot:
    """A throw-away copy of the clean root."""

    def __init__(self, path: Path, suite: str = "bookworm") -> None:
        self.path = path
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run(["cp", "-a", "--reflink=auto", str(ensure_cache(suite)), str(path)], check=True, timeout=300)

    def run(self, *argv: str, check: bool = True, timeout: float = 120, proc_fs: bool = False) -> subprocess.CompletedProcess[str]:
        """``argv`` in the root; ``proc_fs``: with /proc mounted (a private mount namespace)."""
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
        prefix = ["chroot", str(self.path)]
        if proc_fs:
            prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _WITH_PROC, "sh", str(self.path)]
        proc = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    def install(self, package: Path) -> subprocess.CompletedProcess[str]:
        shutil.copy(package, self.path / "tmp" / package.name)
        try:
            return self.run("dpkg", "-i", f"/tmp/{package.name}")
        finally:
            (self.path / "tmp" / package.name).unlink()

    def host(self, path: str) -> Path:
        """Where the root's ``path`` is on this machine."""
        return self.path / path.lstrip("/")

    def snapshot(self) -> set[str]:
        """Every path in the root, except what dpkg and apt keep about themselves."""
        skip = ("var/lib/dpkg/", "var/log/", "var/cache/", "tmp/", "proc/", "run/")
        out = set()
        for dirpath, dirnames, filenames in os.walk(self.path):
            rel = os.path.relpath(dirpath, self.path)
            for name in dirnames + filenames:
                p = os.path.normpath(os.path.join(rel, name))
                if not (p + "/").startswith(skip) and not p.startswith(skip):
                    out.add(p)
        return out

    def start(self, *argv: str, log: Path) -> subprocess.Popen[bytes]:
        """Run ``argv`` in the root, in a private mount namespace with its own /proc."""
        with open(log, "wb") as fh:
            return subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "sh", "-c", _WITH_PROC, "sh", str(self.path), *argv],
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
            )

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def stop(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL: only this process, which we started."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(pred, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")
