"""A real Docker daemon for the docker plugins' tests, started by the test session.

``dockerd`` runs as a child of the tests with its own data and exec roots and socket
under a temporary directory (no bridge, no iptables, the vfs storage driver), so it
touches nothing of the host's and needs no registry: the one image the tests use is
imported from a tarball holding a static busybox. Where ``dockerd`` or a static busybox
is absent the docker tests are skipped with that reason.

``podman`` is daemonless: the session gives it a private store (``CONTAINERS_STORAGE_CONF``,
vfs under a temporary directory) and engine config (``CONTAINERS_CONF``: cgroupfs, events to
a file, runc where installed, since crun refuses this machine's hybrid cgroups), imports the
same busybox image and runs its containers with no network. The podman plugin sees that
store through the same two variables, set while its action runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent_core.host import PluginHost
from agent_core.testing import run_action

IMAGE = "starling-test/busybox:1"


@dataclass
class Dockerd:
    host: str  # DOCKER_HOST
    image: str

    def docker(self, *args: str, check: bool = True) -> str:
        env = dict(os.environ, DOCKER_HOST=self.host)
        res = subprocess.run(["docker", *args], capture_output=True, text=True, env=env, timeout=60)
        if check and res.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {res.stderr.strip()}")
        return res.stdout.strip()


def _static_busybox() -> str | None:
    path = shutil.which("busybox")
    if path is None:
        return None
    ldd = subprocess.run(["ldd", path], capture_output=True, text=True)
    return path if "not a dynamic executable" in (ldd.stdout + ldd.stderr) else None


def _image_tar(busybox: str, path: Path) -> Path:
    """A root file system with a static busybox and a few of its applets, as a tarball."""
    with tarfile.open(path, "w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "sleep", "echo", "cat", "env"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(info)
    return path


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dockerd]:
    if shutil.which("dockerd") is None or shutil.which("docker") is None:
        pytest.skip("dockerd or the docker CLI absent on this host: the docker plugins' real path is not exercised")
    busybox = _static_busybox()
    if busybox is None:
        pytest.skip("no static busybox (Debian busybox-static) to build the test image: docker's real path is not exercised")
    root = Path(tmp_path_factory.mktemp("dockerd"))
    sock = root / "docker.sock"
    log = (root / "dockerd.log").open("wb")
    proc = subprocess.Popen(
        ["dockerd", "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
         "--pidfile", str(root / "docker.pid"), "-H", f"unix://{sock}", "--bridge=none",
         "--iptables=false", "--ip6tables=false", "--storage-driver=vfs"],
        stdout=log, stderr=log,
    )  # fmt: skip
    daemon = Dockerd(host=f"unix://{sock}", image=IMAGE)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dockerd exited {proc.returncode}: {(root / 'dockerd.log').read_text()[-2000:]}")
            if sock.exists() and not daemon.docker("info", check=False).startswith("Cannot"):
                if daemon.docker("version", "--format", "{{.Server.Version}}", check=False):
                    break
            if time.monotonic() > deadline:
                pytest.fail("dockerd did not answer within 60 s")
            time.sleep(0.2)
        image_root = _image_tar(busybox, root / "image.tar")
        env = dict(os.environ, DOCKER_HOST=daemon.host)
        subprocess.run(["docker", "import", str(image_root), IMAGE], check=True, env=env, capture_output=True, timeout=60)
        yield daemon
    finally:
        ids = daemon.docker("ps", "-aq", check=False).split() if sock.exists() else []
        if ids:
            daemon.docker("rm", "-f", *ids, check=False)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _runner(env: dict[str, str], tmp_path: Path):
    """``run_action`` on a fresh plugin host that sees the variables ``env`` while it runs."""
    host = PluginHost()

    async def runner(action: str, params: dict | None = None):
        with pytest.MonkeyPatch.context() as m:
            for name, value in env.items():
                m.setenv(name, value)
            return await run_action(action, params or {}, host=host, state_dir=tmp_path)

    return runner


@pytest.fixture
def docker_action(dockerd: Dockerd, tmp_path: Path):
    """``run_action`` against the test daemon."""
    return _runner({"DOCKER_HOST": dockerd.host}, tmp_path)


@pytest.fixture
def no_daemon_action(tmp_path: Path):
    """``run_action`` with ``DOCKER_HOST`` naming a socket nobody serves."""
    return _runner({"DOCKER_HOST": f"unix://{tmp_path}/nobody.sock"}, tmp_path)


@dataclass
class Podman:
    env: dict[str, str]  # CONTAINERS_STORAGE_CONF, CONTAINERS_CONF
    image: str

    def podman(self, *args: str, check: bool = True) -> str:
        # stdin: not the xdist worker's (its channel to the controller), which conmon inherits.
        res = subprocess.run(
            ["podman", *args], capture_output=True, text=True, env=dict(os.environ, **self.env),
            stdin=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip
        if check and res.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)}: {res.stderr.strip()}")
        return res.stdout.strip()


@pytest.fixture(scope="session")
def podman() -> Iterator[Podman]:
    """podman with a store of its own, the busybox image imported, no network (see the module doc)."""
    if shutil.which("podman") is None:
        pytest.skip("podman absent on this host: the podman plugin's real path is not exercised")
    if os.geteuid() != 0:
        pytest.skip("podman's store here is root's (rootless podman needs subuids): the real path is not exercised")
    busybox = _static_busybox()
    if busybox is None:
        pytest.skip("no static busybox (Debian busybox-static) to build the test image: podman's real path is not exercised")
    # A short path: under pytest-xdist's longer base directory (.../popen-gwN/podman0) conmon's
    # clean-up never ran and exited containers stayed "stopped" (Unix socket paths are limited
    # to 108 bytes: the likely cause, not proven).
    root = Path(tempfile.mkdtemp(prefix="stpod-", dir="/tmp"))
    (root / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\ngraphroot = "{root}/graph"\nrunroot = "{root}/run"\n'
    )
    runtime = 'runtime = "runc"\n' if shutil.which("runc") else ""
    (root / "containers.conf").write_text(
        # The default limits (nofile 1048576) are above what this process may set.
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\nnetns = "none"\n'
        f'[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\nevents_logfile_path = "{root}/events.log"\n'
        f'tmp_dir = "{root}/tmp"\nvolume_path = "{root}/volumes"\n{runtime}'
    )
    engine = Podman(
        env={"CONTAINERS_STORAGE_CONF": str(root / "storage.conf"), "CONTAINERS_CONF": str(root / "containers.conf")},
        image=f"localhost/{IMAGE}",
    )
    try:
        engine.podman("import", str(_image_tar(busybox, root / "image.tar")), IMAGE)
        probe = subprocess.run(
            ["podman", "run", "--rm", "--network", "none", IMAGE, "echo", "ok"],
            capture_output=True, text=True, env=dict(os.environ, **engine.env), timeout=60,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        if probe.stdout.strip() != "ok":
            pytest.skip(f"podman cannot run a container on this host ({probe.stderr.strip()[-300:]}): its real path is not exercised")
        yield engine
    finally:
        engine.podman("rm", "--all", "--force", "--time", "0", check=False)
        engine.podman("rmi", "--all", "--force", check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def podman_action(podman: Podman, tmp_path: Path):
    """``run_action`` that sees the test store."""
    return _runner(podman.env, tmp_path)


@pytest.fixture(scope="module")
def containers(dockerd: Dockerd) -> Iterator[dict[str, str]]:
    """A running container with a label and a secret in its env, and an exited one with output."""
    web = dockerd.docker("run", "-d", "--network", "none", "--label", "app=web", "-e", "DB_PASSWORD=hunter2",
                         "-e", "MODE=prod", "--name", f"st-web-{os.getpid()}", IMAGE, "sleep", "600")  # fmt: skip
    done = dockerd.docker("run", "-d", "--network", "none", "--name", f"st-done-{os.getpid()}", IMAGE,
                          "sh", "-c", "echo first-out; echo first-err >&2; echo second-out")  # fmt: skip
    dockerd.docker("wait", done)
    yield {"web": web, "done": done}
    dockerd.docker("rm", "-f", web, done, check=False)
