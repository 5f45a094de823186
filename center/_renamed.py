"""Renamed actions in what operators wrote: scopes and action rules keep protecting.

The center matches an account scope or an action rule against a renamed
action's old name too (:func:`transports.also_known_as`), so ``cmd.run`` in a
rule file written before the rename still holds ``exec.run``; and it logs one
warning per pattern that reaches renamed actions only through their old names,
naming the new ones to write (docs/security.md, "Renamed actions").
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Iterable

from transports import also_known_as, granted_as, renamed_matching

__all__ = ["matches_action", "warn_renamed"]

log = logging.getLogger("starling.center")
_warned: set[tuple[str, str]] = set()


def matches_action(pattern: str, action: str) -> bool:
    """Whether fnmatch ``pattern`` matches ``action`` under its name or any other name
    the action had (or has: an older agent may still declare the old one)."""
    return any(fnmatch.fnmatchcase(name, pattern) for name in (action, *also_known_as(action)))


def warn_renamed(patterns: Iterable[str], where: str, *, grants: bool = False) -> list[str]:
    """Warn (once per ``where`` and pattern) about every pattern that reaches renamed
    actions only by their old names; returns the warnings (for the caller's report).

    With ``grants`` (an account scope) an old name keeps granting only an action renamed
    one-for-one (:func:`transports.granted_as`); the warning names the merged actions it
    no longer grants."""
    out = []
    for pattern in patterns:
        hits = renamed_matching(pattern)
        if not hits:
            continue
        news = ", ".join(f"{old} -> {new}" for old, new in sorted(hits.items()))
        lost = sorted({new for old, new in hits.items() if grants and old not in granted_as(new)})
        msg = (
            f"{where} names {pattern!r}, which reaches renamed actions only by their old names "
            f"({news}); it still applies to them, but write the new names"
        )
        if lost:
            msg = (
                f"{where} names {pattern!r}, which reaches renamed actions only by their old names "
                f"({news}); it no longer grants {', '.join(lost)} (several old actions merged into "
                "each, and it can do more than the one granted): grant the new name if that is meant"
            )
        out.append(msg)
        if (where, pattern) not in _warned:
            _warned.add((where, pattern))
            log.warning("%s", msg)
    return out
