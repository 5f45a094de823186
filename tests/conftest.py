"""Fixtures shared by every test directory."""

from __future__ import annotations

import io
import os
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

#: The shared database servers of the production-store tests (each test makes its own database).
PG_SERVER = os.environ.get("STARLING_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MYSQL_SERVER = os.environ.get("STARLING_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")

# Agents started by tests (real processes, through `starling up` or directly)
# share a loaded 2-core machine with other suites: under that load their
# throttle would rightly defer tasks, and tests about other things would wait
# on it. The throttle has its own tests (tests/agent/test_throttle.py, fake
# probe and MockClock); everywhere else it is off unless a test sets it.
os.environ.setdefault("STARLING_AGENT_MAX_CPU_PRESSURE", "0")
os.environ.setdefault("STARLING_AGENT_MAX_LOAD_PER_CPU", "0")


def _make_wheel(version: str, greeting: str, plugin: str = "wheeltest") -> bytes:
    """A real (pure-Python) wheel of a third-party plugin package that is not
    installed anywhere: ``starling-wheeltest``, plugin ``wheeltest`` (or the name
    given), action ``wheeltest.hello`` returning ``{"text": greeting}``."""
    module = f'''
import msgspec
from agent_core import NoParams, Plugin, Risk, action

class Out(msgspec.Struct):
    text: str

@action("wheeltest.hello", risk=Risk.READ, timeout=5)
async def hello(ctx, p: NoParams) -> Out:
    """Say hello."""
    return Out(text={greeting!r})

PLUGIN = Plugin({plugin!r}, description="test plugin")
'''
    dist = f"starling_wheeltest-{version}.dist-info"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("starling_wheeltest/__init__.py", "")
        zf.writestr("starling_wheeltest/plugin.py", module)
        zf.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: starling-wheeltest\nVersion: {version}\n")
        zf.writestr(f"{dist}/entry_points.txt", f"[starling.plugins]\n{plugin} = starling_wheeltest.plugin\n")
        zf.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{dist}/RECORD", "")
    return buf.getvalue()


@pytest.fixture
def make_wheel() -> Callable[..., bytes]:
    return _make_wheel


@contextmanager
def _private_database(server: str, prefix: str) -> Iterator[str]:
    """A fresh database named ``<prefix>_<worker>_<random>`` on ``server``, dropped
    afterwards (``<worker>`` is pytest-xdist's ``gw0``, ``gw1``... or ``main``).

    Skips the test, with the reason, when the server is not reachable.
    """
    sa = pytest.importorskip("sqlalchemy")
    name = f"{prefix}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    postgres = server.startswith("postgresql")
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"{'PostgreSQL' if postgres else 'MariaDB'} not reachable at {server} (contrib/testdb.sh starts it): {exc}")
    try:
        yield sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if postgres:  # a test may have closed it to new connections (a database outage)
                conn.execute(sa.text(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{' WITH (FORCE)' if postgres else ''}"))
        admin.dispose()


@pytest.fixture(scope="session")
def private_database() -> Callable[[str, str], AbstractContextManager[str]]:
    """``with private_database(server_url, prefix) as url:`` a database of the test's own."""
    return _private_database


# -- running in parallel (pytest-xdist) -------------------------------------------------------
#
# Run serially, the suite keeps about one of two cores busy (~700-760 CPU-seconds in a
# 14-minute run): the rest is waiting on processes, sockets and timers. ``-n 3`` runs it on
# three pytest-xdist workers (the default of `./dev test`; under load,
# tests/integration/test_cli_json.py's Ctrl-C test once saw its SIGINT have no effect, cause
# not found; it prints the CLI's signal masks if it fails). Each worker has its own tmp dirs, ports
# (0 or reserved), database names (above), namespace and container names (pid + random).
# What is shared is scheduled as one unit: a test module always runs whole on one worker
# (its module fixtures start once), and each directory below runs whole on one worker (one test of it
# at a time) because its tests share one thing of the host's.

#: Directories whose tests share something host-wide: each runs as one unit.
SHARED = {
    "tests/chaos": "centers, proxies and 1,500 simulated agents per module: two at once starve the machine",
    "tests/deb_packages": "one package build for the session (in the source tree's build/), debootstrap roots, a systemd container (test_systemd_unit.py)",
    "tests/plugins/containers": "one test dockerd for the session",
    "tests/plugins/users": "the host's account database (useradd/userdel)",
    "tests/plugins/services": "the host's systemd (daemon-reload), or the session's systemd container",
    "tests/plugins/packages": "dpkg/rpm tools and their locks",
}
#: Modules that run as one unit with each other.
TOGETHER = {
    # each starts a headless chromium
    "tests/integration/test_console_browser.py": "browsers",
    "tests/integration/test_terminal_browser.py": "browsers",
    # each builds from the source tree (build/, *.egg-info), as tests/deb_packages does
    "tests/sdk/test_third_party_clean_venv.py": "tests/deb_packages",
    "tests/integration/test_python313.py": "tests/deb_packages",
    # the other users of the systemd host (tests/plugins/_systemd_host.py): on a host without
    # systemd, one worker boots one container for all of them
    "tests/plugins/scheduling/test_sched_timer_list.py": "tests/plugins/services",
    "tests/plugins/state/test_state_service_running.py": "tests/plugins/services",
}
#: Modules that change what every other test sees, run while no other test runs (see
#: :func:`pytest_runtest_protocol`).
ALONE = {
    "tests/sdk/test_scaffold.py": "installs a generated plugin package into the suite's own venv",
    # Timed placement rounds: it passed 6 of 6 runs beside helpers' work (load 7-10) once
    # placement stopped forgetting agents at each load report, but it needs the CPU it asks for.
    "tests/chaos/test_two_idcs.py": "two IDCs, four roles and 60 agents whose placement rounds are timed",
    # Its upgrades restart the agent on timers; it once raced the helper's last log line
    # (read before the helper wrote it; the test now waits for it).
    "tests/deb_packages/test_self_upgrade.py": "an agent upgrading and restarting on timers (its helper waits seconds for the new version)",
}
#: Units known to be long, started first so that no long one starts last (by name prefix).
#: tests/plugins/services: in a fresh clone it first builds the systemd container's root (~2 min).
LONG_FIRST = ("tests/chaos", "tests/deb_packages", "browsers", "tests/plugins/containers", "tests/plugins/services")


def unit_of(nodeid: str) -> str:
    """The scheduling unit of a test: a directory of :data:`SHARED`, a name of
    :data:`TOGETHER`, else its module."""
    module = nodeid.split("::", 1)[0]
    if module in TOGETHER:
        return TOGETHER[module]
    for directory in SHARED:
        if module.startswith(directory + "/"):
            return directory
    return module


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    from collections import OrderedDict

    from xdist.scheduler import LoadScopeScheduling

    class UnitScheduling(LoadScopeScheduling):
        """xdist's ``loadscope`` with :func:`unit_of` as the scope, long units first,
        then the rest by number of tests."""

        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def _assign_work_unit(self, node: object) -> None:
            def rank(item: tuple[str, dict[str, bool]]) -> tuple[int, int]:
                scope, tests = item
                first = next((i for i, p in enumerate(LONG_FIRST) if scope.startswith(p)), len(LONG_FIRST))
                return first, -len(tests)

            self.workqueue = OrderedDict(sorted(self.workqueue.items(), key=rank))
            super()._assign_work_unit(node)

    return UnitScheduling(config, log)


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    import fcntl

    with path.open("a") as fh:
        fcntl.flock(fh, mode)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """Under xdist, a test of :data:`ALONE` holds an exclusive lock shared by the run's
    workers (every other test holds it shared) from its setup to its teardown. The
    turnstile lets a waiting exclusive test in before new shared holders."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    import fcntl

    run_dir = item.config._tmp_path_factory.getbasetemp().parent  # pytest-N/, shared by the workers
    turnstile, lock = run_dir / "alone.turnstile", run_dir / "alone.lock"
    if item.nodeid.split("::", 1)[0] in ALONE:
        with _flock(turnstile, fcntl.LOCK_EX), _flock(lock, fcntl.LOCK_EX):
            yield
    else:
        with _flock(turnstile, fcntl.LOCK_EX):
            pass
        with _flock(lock, fcntl.LOCK_SH):
            yield
