"""Target selection: which registered hosts a job (or a scope) means.

A job names hosts, tags (any of them: OR), an IDC or ``all``; the database
narrows on those. A :class:`Selector` then refines in Python: tags that must all
be present (AND), tags and hosts to exclude, IDCs, OS and agent-version
patterns, and current health. :func:`host_matches` is the one matcher; account
scopes (``center/_policy.py``) can use it too, once per dimension they OR.

Named hosts that exist but are filtered out are not "unknown": the answer says
how many the filters left out, and only names no host answers to are C002.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from transports import ErrorCode, StarlingError

from ._diagnosis import version_tuple
from ._hostlist import read_host_list  # noqa: F401  (re-exported)
from ._rows import HostRow

if TYPE_CHECKING:
    from ._center import Center, JobRequest

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Names = Annotated[list[Name], msgspec.Meta(max_length=10000)]
Patterns = Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=128)]], msgspec.Meta(max_length=64)]


class Selector(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """Refinements of a job's targets; every field given must match (AND)."""

    #: Hosts must carry every one of these tags.
    tags_all: Patterns = []
    #: Hosts carrying any of these tags are left out.
    tags_none: Patterns = []
    #: Hosts (id, hostname, IP or SN) left out.
    exclude_hosts: Names = []
    #: Any of these IDCs.
    idcs: Patterns = []
    #: OS name patterns (shell globs, case-insensitive), e.g. ``"Debian*"``.
    os: Patterns = []
    #: Agent version constraints, all must hold: ``">=0.2"``, ``"<1.0"``, ``"==0.1.0"``, or a glob ``"0.1.*"``.
    versions: Patterns = []
    #: ``healthy``: no diagnosis finding now; ``unhealthy``: at least one.
    health: Literal["", "healthy", "unhealthy"] = ""


def _names(row: HostRow) -> set[str]:
    return {row.id, row.hostname, row.ip, row.sn} - {""}


def version_ok(version: str, constraint: str) -> bool:
    """Does an agent version satisfy ``>=1.2``, ``<2``, ``==0.1.0``, ``!=0.3`` or a glob?"""
    for op in (">=", "<=", "==", "!=", ">", "<"):
        if constraint.startswith(op):
            have, want = version_tuple(version), version_tuple(constraint[len(op):].strip())
            n = max(len(have), len(want))
            have, want = have + (0,) * (n - len(have)), want + (0,) * (n - len(want))
            return {">=": have >= want, "<=": have <= want, "==": have == want, "!=": have != want, ">": have > want, "<": have < want}[op]
    return fnmatch.fnmatchcase(version, constraint)


def host_matches(
    row: HostRow,
    *,
    hosts: Iterable[str] = (),
    idcs: Iterable[str] = (),
    tags_any: Iterable[str] = (),
    tags_all: Iterable[str] = (),
    tags_none: Iterable[str] = (),
    exclude_hosts: Iterable[str] = (),
    os: Iterable[str] = (),
    versions: Iterable[str] = (),
    healthy: Callable[[HostRow], bool] | None = None,
    health: str = "",
) -> bool:
    """True when the host row passes every dimension given (an empty one passes).

    Within a dimension any value matches (OR), except ``tags_all`` and
    ``versions`` (all must hold) and the exclusions (none may match).
    """
    names = _names(row)
    tags = set(row.tags)
    hosts, idcs, tags_any = set(hosts), set(idcs), set(tags_any)
    if hosts and not hosts & names:
        return False
    if idcs and row.idc not in idcs:
        return False
    if tags_any and not tags_any & tags:
        return False
    if not set(tags_all) <= tags:
        return False
    if set(tags_none) & tags or set(exclude_hosts) & names:
        return False
    os_pats = list(os)
    if os_pats and not any(fnmatch.fnmatch(row.os.lower(), p.lower()) for p in os_pats):
        return False
    if not all(version_ok(row.version, c) for c in versions):
        return False
    if health and healthy is not None and healthy(row) != (health == "healthy"):
        return False
    return True


def selector_matches(row: HostRow, sel: Selector, healthy: Callable[[HostRow], bool] | None = None) -> bool:
    return host_matches(
        row, idcs=sel.idcs, tags_all=sel.tags_all, tags_none=sel.tags_none, exclude_hosts=sel.exclude_hosts,
        os=sel.os, versions=sel.versions, healthy=healthy, health=sel.health,
    )


@dataclass
class Resolution:
    """The hosts a request means, and what the selection left out (said in the answer)."""

    targets: list[HostRow]
    #: Named hosts that exist but did not pass the tags/IDC/selector filters.
    filtered: list[str] = field(default_factory=list)
    #: Hosts left out by the selector.
    excluded: int = 0
    #: ``all``: hosts offline for longer than ``offline_after`` that were left out.
    stale: list[str] = field(default_factory=list)

    def explain(self) -> str:
        """The notes in words, for an error message (empty when none)."""
        parts = []
        if self.filtered:
            parts.append(f"named but without the tags/IDC/filters asked for: {', '.join(self.filtered[:10])}")
        if self.excluded:
            parts.append(f"{self.excluded} left out by the filters")
        if self.stale:
            parts.append(f"{len(self.stale)} offline for longer than offline_after")
        return "; " + "; ".join(parts) if parts else ""

    def notes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.filtered:
            out["filtered_named"] = self.filtered[:50]
        if self.excluded:
            out["excluded"] = self.excluded
        if self.stale:
            out["stale_offline"] = len(self.stale)
            out["stale_hosts"] = self.stale[:50]
        return out


async def resolve_targets(center: Center, req: JobRequest, now: float) -> Resolution:
    """Resolve a job request to host rows (revoked hosts included: the caller decides)."""
    store = center.store
    targets = await store.select_agents(hosts=req.hosts, tags=req.tags, idc=req.idc, all_hosts=req.all)
    filtered: list[str] = []
    if req.hosts:
        got = set().union(*(_names(t) for t in targets)) if targets else set()
        missing = [h for h in req.hosts if h not in got]
        if missing:
            # Exists but lacks the tag or IDC: not unknown, just not selected.
            existing = await store.select_agents(hosts=missing)
            known = set().union(*(_names(t) for t in existing)) if existing else set()
            unknown = [h for h in missing if h not in known]
            if unknown:
                raise StarlingError(f"unknown host(s): {', '.join(unknown[:10])}", code=ErrorCode.C002)
            filtered += missing
    res = Resolution(targets=targets, filtered=filtered)
    sel = req.select
    if sel is not None:
        healthy = None
        if sel.health:
            diag = center.diagnoser

            def healthy(row: HostRow) -> bool:
                return not diag.findings(row, now)

        kept = [t for t in targets if selector_matches(t, sel, healthy)]
        res.excluded = len(targets) - len(kept)
        if req.hosts:
            names_kept = set().union(*(_names(t) for t in kept)) if kept else set()
            res.filtered += [h for h in req.hosts if h not in names_kept and h not in res.filtered]
        res.targets = kept
    limit = center.offline_after
    if req.all and limit > 0:
        # A host never heard from since it registered counts from its registration.
        stale = [t for t in res.targets if not t.online and now - (t.last_seen or t.registered or now) > limit]
        stale_ids = {t.id for t in stale}
        res.stale = [t.hostname or t.id for t in stale]
        res.targets = [t for t in res.targets if t.id not in stale_ids]
    return res


