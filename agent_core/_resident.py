"""Declaration of a resident (long-running) process a plugin asks the agent to keep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Resident:
    """A long-running process kept alive by the agent.

    Returned by a plugin's ``starling_residents`` hook; the
    :class:`~agent_core.ResidentSupervisor` starts it in its own process group,
    probes it, restarts it with jittered exponential backoff, and kills its
    whole process tree when the agent stops.

    :param name: unique, ``<plugin>.<name>``.
    :param argv: the command line (``argv[0]`` absolute or found on ``PATH``).
    :param health_url: optional ``http://127.0.0.1:PORT/path`` probed for a 2xx.
    :param max_rss_mb: restart the process when its tree's RSS exceeds this.
    :param cpu_percent: renice it to ``penalty_nice`` when its tree uses more
        than this share of one core (measured between two checks); the nice
        value is restored once usage drops below half of it.
    :param env: extra environment variables, on top of the agent's.
    :param cwd: working directory ("" = the resident's own state directory).
    :param check_interval: seconds between health probes and limit checks.
    :param check_timeout: seconds a health probe may take.
    :param check_failures: consecutive failed probes that trigger a restart.
    :param start_grace: seconds after a start during which failed probes do not
        count (until the first success), so a slow start is not a failure.
    :param backoff_min: first delay before a restart, in seconds (jittered).
    :param backoff_max: cap of the doubling restart delay.
    :param stable_after: a run this long resets the delay to ``backoff_min``.
    :param log_max_bytes: size at which ``<name>.out`` / ``<name>.err`` are
        rotated to ``.1`` (checked every second; one old generation is kept).
    :param penalty_nice: the nice value applied when over ``cpu_percent``.
    """

    name: str
    argv: Sequence[str]
    health_url: str = ""
    max_rss_mb: int = 256
    cpu_percent: float = 50.0
    env: tuple[tuple[str, str], ...] = ()
    cwd: str = ""
    check_interval: float = 10.0
    check_timeout: float = 2.0
    check_failures: int = 3
    start_grace: float = 15.0
    backoff_min: float = 1.0
    backoff_max: float = 300.0
    stable_after: float = 60.0
    log_max_bytes: int = 1024 * 1024
    penalty_nice: int = 19
