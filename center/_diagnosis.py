"""Diagnosis: why a host cannot (or could not) do its task, with evidence and an owner.

The center already knows a lot about every host from its heartbeats: when it
was last heard of, how its connection ended, its disks, load, memory, clock and
agent version. :func:`host_findings` turns one stored host row into findings,
each an ``E…`` (or ``A…``) code with a one-line summary and the numbers behind
it; :class:`Diagnoser` adds the owner from the CMDB, records the diagnosis of
failed tasks once, and runs the live check behind ``starling diag HOST``.

Distinguishing "agent not running" from "host unreachable": an agent process
that exits closes its connection (the host's kernel answers with FIN/RST), so
its proxy reports it gone at once (``E001``); a host that dies, hangs or is cut
off just falls silent, and its heartbeats stop (``E005``).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa
import trio

from transports import ErrorCode, StarlingError

from ._records import cmdb_hosts, task_diagnoses
from ._rows import CmdbRow, DiagnosisRow, FailedTask, HostRow, HostStatus, TaskRow
from ._store import Store, agents, cmdb_row, host_row, tasks

if TYPE_CHECKING:
    from ._center import Center

DISK_FULL_RATIO = 0.98
LOAD_PER_CPU_LIMIT = 4.0
MEM_LOW_RATIO = 0.03
#: Seconds between the agent's clock and the center's before it is a finding.
CLOCK_SKEW_LIMIT = 30.0
#: Task codes that say the host lacks something, reported as a finding of their own.
TASK_CODES = {"A001", "A003", "A012"}
FAILED_STATES = ("failed", "timed_out")


@dataclass
class Finding:
    """One thing wrong with a host: its code, a sentence, and the numbers."""

    code: ErrorCode
    summary: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code.value, "meaning": self.code.meaning, "summary": self.summary, "evidence": self.evidence}


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def version_tuple(version: str) -> tuple[int, ...]:
    """``"1.2.10rc1"`` → ``(1, 2, 10)``: enough to order agent releases."""
    out = []
    for part in version.split("."):
        m = re.match(r"\d+", part)
        if m is None:
            break
        out.append(int(m.group()))
        if m.end() != len(part):
            break
    return tuple(out)


def _health(row: HostStatus) -> dict[str, Any]:
    health = row.health or {}
    if isinstance(health, str):
        try:
            health = json.loads(health)
        except ValueError:
            health = {}
    return health if isinstance(health, dict) else {}


def host_findings(
    row: HostStatus,
    now: float,
    *,
    grace: float,
    min_version: str = "",
    linked_proxies: set[str] | None = None,
    clock_limit: float = CLOCK_SKEW_LIMIT,
    load_limit: float = LOAD_PER_CPU_LIMIT,
) -> list[Finding]:
    """What is wrong with the host of this stored agent row, most severe first.

    :param row: a host row, or the host columns of an overdue task (``health`` decoded or as JSON text).
    :param grace: seconds of silence after which a host counts as unreachable.
    :param min_version: the oldest agent version still accepted ("" = any).
    :param linked_proxies: proxies linked to this center (None: not checked).
    :param load_limit: load per CPU above which the host is overloaded (E003).
    """
    out: list[Finding] = []
    last = float(row.last_seen or 0.0)
    silent = now - last if last else None
    seen = {"last_seen": last or None, "last_seen_at": _when(last) if last else "never", "silent_for": round(silent, 1) if silent is not None else None}
    proxy = row.proxy_id or ""
    if row.revoked:
        out.append(Finding(ErrorCode.C019, "host revoked: its credential is refused", {}))
    if not row.online:
        code = str(row.code or "E001")
        if not last:
            out.append(Finding(ErrorCode.E001, "agent never connected since registration", seen))
        elif code == "E005":
            out.append(Finding(ErrorCode.E005, f"host unreachable or hung: no heartbeat for {_ago(silent or 0)} (since {_when(last)})", seen | {"proxy": proxy}))
        elif linked_proxies is not None and proxy and proxy not in linked_proxies:
            out.append(Finding(ErrorCode.E001, f"unreachable: its proxy {proxy} is not linked to this center; last heard {_ago(silent or 0)} ago", seen | {"proxy": proxy, "hop": "center->proxy"}))
        else:
            out.append(Finding(ErrorCode.E001, f"agent not running: its connection closed; down since {_when(last)} ({_ago(silent or 0)})", seen | {"proxy": proxy, "hop": "proxy->agent"}))
    elif silent is not None and silent > grace:
        out.append(Finding(ErrorCode.E005, f"host unreachable or hung: no heartbeat for {_ago(silent)} (since {_when(last)})", seen | {"proxy": proxy}))
    health = _health(row)
    for disk in health.get("disks") or []:
        total, used = disk.get("total") or 0, disk.get("used") or 0
        if total and used / total >= DISK_FULL_RATIO:
            out.append(Finding(ErrorCode.E002, f"disk full: {disk.get('mount')} {100 * used / total:.1f}% used ({(total - used) // 1024} KiB free of {total // 1024} KiB)",
                               {"mount": disk.get("mount"), "used": used, "total": total, "fill": round(used / total, 4), "free": total - used}))
    cpus, load1 = health.get("cpus") or 0, health.get("load1") or 0.0
    if cpus and load1 > load_limit * cpus:
        out.append(Finding(ErrorCode.E003, f"load {load1:.1f} on {cpus} CPUs ({load1 / cpus:.1f} per CPU)", {"load1": load1, "cpus": cpus, "per_cpu": round(load1 / cpus, 2), "limit_per_cpu": load_limit}))
    mem_total, mem_avail = health.get("mem_total") or 0, health.get("mem_available") or 0
    if mem_total and mem_avail / mem_total < MEM_LOW_RATIO:
        out.append(Finding(ErrorCode.E004, f"memory low: {mem_avail // 1048576} MiB available of {mem_total // 1048576} MiB", {"mem_available": mem_avail, "mem_total": mem_total, "ratio": round(mem_avail / mem_total, 4)}))
    clock = health.get("clock") or 0.0
    if clock and last and abs(clock - last) > clock_limit:
        out.append(Finding(ErrorCode.E008, f"clock off by {clock - last:+.0f}s from the center's", {"skew": round(clock - last, 3), "limit": clock_limit}))
    version = str(row.version or "")
    if min_version and version_tuple(version) < version_tuple(min_version):
        out.append(Finding(ErrorCode.E007, f"agent {version or '(unknown)'} is older than the minimum {min_version}", {"version": version, "min_version": min_version}))
    return out


def owner_of(store: Store, rows: list[HostRow]) -> dict[str, dict[str, Any]]:
    """The CMDB record of each host (by SN, else IP, else hostname): ``{agent_id: record}``."""
    if not rows:
        return {}
    sns = [r.sn for r in rows if r.sn]
    ips = [r.ip for r in rows if r.ip]
    names = [r.hostname for r in rows if r.hostname]
    q = sa.select(cmdb_hosts).where(sa.or_(cmdb_hosts.c.sn.in_(sns), cmdb_hosts.c.ip.in_(ips), cmdb_hosts.c.hostname.in_(names)))
    by: dict[tuple[str, str], CmdbRow] = {}
    with store.engine.connect() as conn:
        for rec in map(cmdb_row, conn.execute(q)):
            for key, value in (("sn", rec.sn), ("ip", rec.ip), ("hostname", rec.hostname)):
                if value:
                    by.setdefault((key, value), rec)
    out = {}
    for r in rows:
        for key, value in (("sn", r.sn), ("ip", r.ip), ("hostname", r.hostname)):
            found = by.get((key, value or ""))
            if found is not None:
                out[r.id] = {"owner": found.owner, "idc": found.idc, "matched_by": key}
                break
    return out


def diagnosis_doc(findings: list[Finding], owner: dict[str, Any] | None, host: HostRow, now: float, task: TaskRow | FailedTask | None = None) -> dict[str, Any]:
    """The diagnosis as the API shows it: the leading code and sentence, every
    finding, the owner, and when it was made."""
    items = [f.as_dict() for f in findings]
    if task is not None and task.code in TASK_CODES:
        code = ErrorCode.of(task.code, ErrorCode.A003)
        items.insert(0, {"code": code.value, "meaning": code.meaning, "summary": f"{code.meaning}: {task.message or ''}".rstrip(": "), "evidence": {"message": task.message or ""}})
    head = items[0] if items else None
    return {
        "code": head["code"] if head else "",
        "summary": head["summary"] if head else "no host problem known: the failure is the action's own",
        "healthy": not findings,
        "findings": items,
        "owner": (owner or {}).get("owner", ""),
        "cmdb": owner,
        "host": {"id": host.id, "hostname": host.hostname, "ip": host.ip, "idc": host.idc, "version": host.version},
        "at": now,
    }


class Diagnoser:
    """Diagnoses hosts for a center: on failure (recorded once), on demand, live."""

    def __init__(self, center: Center, *, min_version: str = "", clock_limit: float = CLOCK_SKEW_LIMIT, load_limit: float = LOAD_PER_CPU_LIMIT) -> None:
        self.center = center
        self.min_version = min_version
        self.clock_limit = clock_limit
        self.load_limit = load_limit

    def findings(self, row: HostStatus, now: float | None = None, linked: set[str] | None = None) -> list[Finding]:
        """The findings for one host row. ``linked`` (the proxies linked now) is
        taken on the event loop; worker threads pass the copy they were given."""
        return host_findings(
            row, time.time() if now is None else now, grace=self.center.grace, min_version=self.min_version,
            linked_proxies=set(self.center.links) if linked is None else linked, clock_limit=self.clock_limit, load_limit=self.load_limit,
        )

    def _diagnose_rows(self, store: Store, rows: list[HostRow], linked: set[str]) -> dict[str, dict[str, Any]]:
        now = time.time()
        owners = owner_of(store, rows)
        return {r.id: diagnosis_doc(self.findings(r, now, linked), owners.get(r.id), r, now) for r in rows}

    async def hosts(self, rows: list[HostRow]) -> dict[str, dict[str, Any]]:
        """Diagnose stored host rows now: ``{agent_id: diagnosis}``."""
        store = self.center.store
        return await store.call(self._diagnose_rows, store.sync, rows, set(self.center.links))

    def _record_failed(self, store: Store, job_ids: list[str], linked: set[str]) -> int:
        """Attach a diagnosis to every failed task of these jobs that has none yet
        (one query for the tasks, one for their hosts, one for their owners)."""
        q = (
            sa.select(tasks.c.id, tasks.c.job_id, tasks.c.agent_id, tasks.c.code, tasks.c.message)
            .select_from(tasks.outerjoin(task_diagnoses, task_diagnoses.c.task_id == tasks.c.id))
            .where(tasks.c.job_id.in_(job_ids), tasks.c.state.in_(FAILED_STATES), task_diagnoses.c.task_id.is_(None))
            .limit(5000)
        )
        with store.engine.connect() as conn:
            failed = [FailedTask(id=i, job_id=j, agent_id=a, code=c, message=m) for i, j, a, c, m in conn.execute(q)]
        if not failed:
            return 0
        hosts = store.agent_by_id({t.agent_id for t in failed})
        owners = owner_of(store, list(hosts.values()))
        now = time.time()
        rows = []
        for t in failed:
            host = hosts.get(t.agent_id)
            if host is not None:
                doc = diagnosis_doc(self.findings(host, now, linked), owners.get(host.id), host, now, t)
                rows.append(DiagnosisRow(task_id=t.id, job_id=t.job_id, doc=json.dumps(doc)))
        store_rows(store, rows)
        return len(rows)

    async def record_failed(self, job_ids: set[str]) -> None:
        if job_ids:
            store = self.center.store
            await store.call(self._record_failed, store.sync, sorted(job_ids), set(self.center.links))

    async def live(self, name: str, account: str = "", seconds: float = 8.0) -> dict[str, Any]:
        """Check a host now, hop by hop: center → proxy link → agent connection →
        a real round trip (``agent.status``, whose fresh health sample gives disk,
        load, memory and the agent's clock)."""
        from ._center import JobRequest

        store = self.center.store
        host = await store.call(find_host, store.sync, name)
        if host is None:
            raise StarlingError(f"unknown host {name!r}", code=ErrorCode.C002)
        now = time.time()
        hops: list[dict[str, Any]] = [{"hop": "center", "ok": True, "detail": f"center {self.center.center_id} answers; store reachable"}]
        proxy = host.proxy_id or ""
        link = self.center.links.get(proxy) if proxy else None
        if link is not None:
            hops.append({"hop": "center->proxy", "ok": True, "proxy": proxy, "detail": f"proxy {proxy} linked ({link.connections} agents)"})
        else:
            hops.append({"hop": "center->proxy", "ok": False, "proxy": proxy, "detail": f"proxy {proxy or '(none)'} is not linked to this center"})
        silent = now - host.last_seen if host.last_seen else None
        hops.append({
            "hop": "proxy->agent", "ok": host.online, "silent_for": round(silent, 1) if silent is not None else None,
            "detail": (f"agent connected over {host.carrier or '?'}, last heartbeat {silent:.0f}s ago" if host.online and silent is not None
                       else f"agent not connected ({host.code or 'E001'})"),
        })
        live_row = host
        if host.online and link is not None:
            t0 = time.time()
            try:
                sub = await self.center.submit(JobRequest(action="agent.status", hosts=[host.id], timeout=max(1.0, seconds - 1)), account)
            except StarlingError as exc:
                hops.append({"hop": "agent", "ok": False, "detail": f"live check refused: {exc.code.value} {exc.message}"})
            else:
                job_id = sub["job_id"]
                end = trio.current_time() + seconds
                rows: list[TaskRow] = []
                while trio.current_time() < end:
                    rows = await store.job_tasks(job_id)
                    if rows and rows[0].state in ("succeeded", "failed", "timed_out", "cancelled"):
                        break
                    await self.center.wait_progress(job_id, min(0.5, max(0.0, end - trio.current_time())))
                t1 = time.time()
                row = rows[0] if rows else None
                if row is not None and row.state == "succeeded" and isinstance(row.data, dict):
                    health = row.data.get("health") or {}
                    agent_clock = float(health.get("clock") or 0.0)
                    # The sample was taken between t0 and t1 by the center's clock.
                    skew = agent_clock - (t0 + t1) / 2 if agent_clock else 0.0
                    seen = (t0 + t1) / 2 if agent_clock else now
                    live_row = msgspec.structs.replace(
                        host, health=health | {"clock": seen + skew} if agent_clock else health, last_seen=seen, online=True,
                    )
                    hops.append({"hop": "agent", "ok": True, "round_trip": round(t1 - t0, 3), "job_id": job_id,
                                 "clock_skew": round(skew, 3), "clock_uncertainty": round((t1 - t0) / 2, 3),
                                 "detail": f"agent answered in {1000 * (t1 - t0):.0f} ms"})
                else:
                    state, code, message = (row.state, row.code, row.message) if row is not None else ("no answer", "", "")
                    hops.append({"hop": "agent", "ok": False, "job_id": job_id, "detail": f"agent.status {state} {code} {message}".strip()})
                    if state not in ("failed", "timed_out", "cancelled"):
                        await self.center.cancel(job_id)
        doc = (await self.hosts([live_row]))[host.id]
        return doc | {"hops": hops, "live": any(h["hop"] == "agent" and h["ok"] for h in hops)}

    async def record(self, items: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Store ``(task_id, job_id, diagnosis)`` as made (e.g. for skipped hosts)."""
        store = self.center.store
        await store.call(store_rows, store.sync, [DiagnosisRow(task_id=t, job_id=j, doc=json.dumps(d)) for t, j, d in items])


def store_rows(store: Store, rows: list[DiagnosisRow]) -> None:
    """Record these diagnoses, once per task (the first one made stays)."""
    if not rows:
        return
    with store.engine.begin() as conn:
        have = set(conn.execute(sa.select(task_diagnoses.c.task_id).where(task_diagnoses.c.task_id.in_([r.task_id for r in rows]))).scalars())
        fresh = [msgspec.structs.asdict(r) for r in rows if r.task_id not in have]
        if fresh:
            try:
                conn.execute(task_diagnoses.insert(), fresh)
            except sa.exc.IntegrityError:
                pass  # another center recorded the same failure a moment ago


def job_diagnoses(store: Store, job_id: str, task_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The recorded diagnoses of a job's tasks: ``{task_id: diagnosis}``."""
    q = sa.select(task_diagnoses.c.task_id, task_diagnoses.c.doc).where(task_diagnoses.c.job_id == job_id)
    if task_ids is not None:
        if not task_ids:
            return {}
        q = q.where(task_diagnoses.c.task_id.in_(task_ids))
    with store.engine.connect() as conn:
        return {r.task_id: json.loads(r.doc) for r in conn.execute(q)}


def find_host(store: Store, name: str) -> HostRow | None:
    """A host by id, hostname, IP or SN."""
    q = sa.select(agents).where(sa.or_(agents.c.id == name, agents.c.hostname == name, agents.c.ip == name, agents.c.sn == name)).limit(2)
    with store.engine.connect() as conn:
        rows = [host_row(r) for r in conn.execute(q)]
    return rows[0] if rows else None
