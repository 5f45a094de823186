"""Connection limits of the server roles, from their configuration.

The proxy (agents' listeners) and the center (proxies' listener) bound what
an unauthenticated peer may cost them (:class:`transports.ConnLimits`); the
keys are documented in ``docs/security.md`` ("Bounded before login").
"""

from __future__ import annotations

import dataclasses
import logging
import resource
from typing import Protocol

from transports import ConnLimits

from ._config import ConfigError

log = logging.getLogger("starling.center")


class _HasLimits(Protocol):
    preauth_max_frame: int
    preauth_timeout: float
    max_connections: int
    max_preauth: int
    max_preauth_per_source: int


def conn_limits(cfg: _HasLimits) -> ConnLimits:
    """The :class:`ConnLimits` a role's config asks for; :class:`ConfigError`
    when a value makes no sense."""
    try:
        return ConnLimits(
            preauth_frame=cfg.preauth_max_frame,
            preauth_deadline=cfg.preauth_timeout,
            max_connections=cfg.max_connections,
            max_preauth=cfg.max_preauth,
            max_preauth_per_source=cfg.max_preauth_per_source,
        )
    except ValueError as exc:
        raise ConfigError(f"connection limits: {exc}") from exc


def raise_open_files_limit() -> int:
    """Raise the soft open-files limit to the hard one (a proxy holds one
    descriptor per agent) and return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-files limit from %d to %d: %s", soft, target, exc)
    return soft


def fit_open_files(limits: ConnLimits, open_files: int, role: str) -> ConnLimits:
    """``limits`` with ``max_connections`` lowered to what the descriptors can
    hold (keeping 256 for files, the database and links), so that an excess
    connection is refused cleanly instead of failing at accept."""
    room = max(open_files - 256, 16)
    if limits.max_connections <= room:
        return limits
    log.info("%s: max_connections %d lowered to %d (open-files limit %d)", role, limits.max_connections, room, open_files)
    return dataclasses.replace(
        limits,
        max_connections=room,
        max_preauth=min(limits.max_preauth, room),
        max_preauth_per_source=min(limits.max_preauth_per_source, room),
    )
