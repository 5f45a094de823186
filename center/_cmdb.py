"""The CMDB: import its view of the fleet, compare it with what agents report.

Sources are adapters behind one small interface (:class:`CmdbSource`): a CSV or
JSON export (:class:`FileSource`) or an HTTP CMDB answering JSON
(:class:`HttpSource`). Records land in the ``cmdb_hosts`` table; diagnoses read
owners from it, :func:`check` lists every mismatch with the agents' reports, and
:func:`sync_tags` merges the CMDB's tags into the hosts' tags.

Matching a CMDB record to an agent: by SN, else by IP, else by hostname.
Mismatch kinds (``starling cmdb check``):

* ``sn_differs`` — matched by IP or hostname, but the SNs differ;
* ``ip_differs`` — matched by SN, but the IPs differ;
* ``hostname_differs``, ``idc_differs`` — matched, but these differ;
* ``no_agent`` — a CMDB record no registered agent matches;
* ``not_in_cmdb`` — a registered agent no CMDB record matches;
* ``duplicate_sn``, ``duplicate_ip`` — one SN or IP on several CMDB records
  (``source: cmdb``) or several agents (``source: agents``).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from transports import StarlingError

from ._cmdb_sources import (  # noqa: F401  (re-exported: the records and sources live there)
    KINDS,
    MAX_RECORDS,
    CmdbImport,
    CmdbRecord,
    CmdbSource,
    Field,
    FileSource,
    HttpSource,
    _tags,
    normalize,
    parse_export,
)
from ._records import cmdb_hosts
from ._rows import CmdbRow, HostRow
from ._store import Store, agents, cmdb_row, host_row

# -- store side --------------------------------------------------------------------------


def import_records(store: Store, records: Sequence[CmdbRecord], replace: bool = True) -> int:
    now = time.time()
    rows = [{"sn": r.sn, "ip": r.ip, "hostname": r.hostname, "owner": r.owner, "idc": r.idc, "tags": json.dumps(r.tags), "imported": now} for r in records]
    with store.engine.begin() as conn:
        if replace:
            conn.execute(cmdb_hosts.delete())
        for i in range(0, len(rows), 1000):
            conn.execute(cmdb_hosts.insert(), rows[i : i + 1000])
    return len(rows)


def cmdb_records(store: Store) -> list[CmdbRow]:
    with store.engine.connect() as conn:
        return [cmdb_row(r) for r in conn.execute(sa.select(cmdb_hosts).order_by(cmdb_hosts.c.id))]


def _agents(store: Store) -> list[HostRow]:
    with store.engine.connect() as conn:
        return [host_row(r) for r in conn.execute(sa.select(agents).where(agents.c.revoked.is_(False)))]


def _keys(row: CmdbRow | HostRow) -> tuple[tuple[str, str], ...]:
    """What a CMDB record and an agent are matched by, in order."""
    return (("sn", row.sn), ("ip", row.ip), ("hostname", row.hostname))


def match(records: list[CmdbRow], hosts: list[HostRow]) -> list[tuple[CmdbRow, HostRow | None, str]]:
    """Pair each CMDB record with an agent: ``(record, agent or None, matched_by)``."""
    index: dict[tuple[str, str], HostRow] = {}
    for h in hosts:
        for key in _keys(h):
            if key[1]:
                index.setdefault(key, h)
    out: list[tuple[CmdbRow, HostRow | None, str]] = []
    for rec in records:
        for key in _keys(rec):
            if key[1] and key in index:
                out.append((rec, index[key], key[0]))
                break
        else:
            out.append((rec, None, ""))
    return out


def check(store: Store) -> dict[str, Any]:
    """Every mismatch between the CMDB and the agents (see the module docstring)."""
    records, hosts = cmdb_records(store), _agents(store)
    issues: list[dict[str, Any]] = []

    def add(kind: str, rec: CmdbRow | None, host: HostRow | None, detail: str, **extra: Any) -> None:
        issues.append({
            "kind": kind, "detail": detail,
            "cmdb": {"sn": rec.sn, "ip": rec.ip, "hostname": rec.hostname, "owner": rec.owner, "idc": rec.idc} if rec else None,
            "agent": {"id": host.id, "sn": host.sn, "ip": host.ip, "hostname": host.hostname, "idc": host.idc, "online": host.online} if host else None,
        } | extra)

    matched: set[str] = set()
    for rec, host, by in match(records, hosts):
        if host is None:
            add("no_agent", rec, None, f"CMDB host {rec.hostname or rec.sn or rec.ip} has no registered agent")
            continue
        matched.add(host.id)
        if rec.sn and rec.sn != host.sn:
            add("sn_differs", rec, host, f"SN: CMDB {rec.sn!r}, agent {host.sn!r} (matched by {by})")
        if rec.ip and rec.ip != host.ip:
            add("ip_differs", rec, host, f"IP: CMDB {rec.ip}, agent {host.ip} (matched by {by})")
        if rec.hostname and rec.hostname != host.hostname:
            add("hostname_differs", rec, host, f"hostname: CMDB {rec.hostname!r}, agent {host.hostname!r}")
        if rec.idc and rec.idc != host.idc:
            add("idc_differs", rec, host, f"IDC: CMDB {rec.idc!r}, agent {host.idc!r}")
    for host in hosts:
        if host.id not in matched:
            add("not_in_cmdb", None, host, f"agent {host.hostname} ({host.sn}, {host.ip}) is not in the CMDB")
    for field in ("sn", "ip"):
        for source, rows in (("cmdb", records), ("agents", hosts)):
            seen: dict[str, list[CmdbRow | HostRow]] = defaultdict(list)
            for r in rows:
                value = getattr(r, field)
                if value:
                    seen[value].append(r)
            for value, dupes in seen.items():
                if len(dupes) > 1:
                    names = [d.hostname or str(d.id) for d in dupes]
                    issues.append({"kind": f"duplicate_{field}", "source": source, "value": value, "count": len(dupes), "hosts": names,
                                   "detail": f"{field.upper()} {value} on {len(dupes)} {source} records: {', '.join(names[:5])}", "cmdb": None, "agent": None})
    counts = {k: 0 for k in KINDS}
    for i in issues:
        counts[i["kind"]] += 1
    return {"ok": not issues, "cmdb_records": len(records), "agents": len(hosts), "counts": counts, "issues": issues}


def sync_tags(store: Store) -> dict[str, Any]:
    """Merge each matched CMDB record's tags into its host's tags. (Owners are
    read from the CMDB table where needed, so they are always current.)"""
    records, hosts = cmdb_records(store), _agents(store)
    changed = []
    tags = {h.id: h.tags for h in hosts}  # as merged so far (two records may match one host)
    with store.engine.begin() as conn:
        for rec, host, _by in match(records, hosts):
            if host is None or not rec.tags:
                continue
            merged = sorted(set(tags[host.id]) | set(rec.tags))
            if merged != sorted(tags[host.id]):
                conn.execute(agents.update().where(agents.c.id == host.id).values(tags=json.dumps(merged)))
                tags[host.id] = merged
                changed.append(host.hostname or host.id)
    return {"updated": len(changed), "hosts": changed[:100]}


def source_for(spec: str) -> CmdbSource:
    """``http(s)://…`` → :class:`HttpSource`; anything else is an export file."""
    return HttpSource(spec) if spec.startswith(("http://", "https://")) else FileSource(spec)


async def keep_in_sync(center: Any, spec: str, interval: float) -> None:
    """Re-read the CMDB and merge its tags into the hosts' tags, forever
    (registration resets a host's tags to what its agent reports)."""
    import logging

    import trio

    log = logging.getLogger("starling.cmdb")
    source = source_for(spec)
    store = center.store
    while True:
        try:
            records = await trio.to_thread.run_sync(source.fetch)
            await store.call(import_records, store.sync, records, True)
            doc = await store.call(sync_tags, store.sync)
            log.info("CMDB: %d records, %d hosts' tags updated", len(records), doc["updated"])
        except StarlingError as exc:
            log.warning("CMDB sync failed: %s", exc)
        await trio.sleep(interval)
