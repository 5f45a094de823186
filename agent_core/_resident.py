"""Declaration of a resident (long-running) process a plugin asks the agent to keep."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Resident:
    """A long-running process kept alive by the agent.

    :param name: unique, ``<plugin>.<name>``.
    :param argv: the command line.
    :param health_url: optional ``http://127.0.0.1:PORT/path`` probed for a 2xx.
    :param max_rss_mb: restart the process when its RSS exceeds this.
    :param cpu_percent: nice it down when it uses more than this share of a core.
    """

    name: str
    argv: Sequence[str]
    health_url: str = ""
    max_rss_mb: int = 256
    cpu_percent: float = 50.0
    env: tuple[tuple[str, str], ...] = ()
