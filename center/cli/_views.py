"""The documents ``starling ... --json`` prints, made from what the API answers.

One name per thing in every document (``docs/cli.md`` lists the fields):

- a job is ``job_id``, a host ``host_id``, a task ``task_id``, wherever they appear
  (``run``, ``job``, ``jobs``, ``hosts``, ``plugins``, the results of each);
- ``counts`` is always an object (state -> hosts), ``done`` is the sum of its final
  states, and ``complete`` is ``done == total``: they cannot disagree, because the CLI
  derives ``done`` and ``complete`` from ``counts`` here rather than copying them;
- ``truncated`` (a job: how many hosts' output the agent cut at its limit, 1 MiB;
  a result: whether this host's was), ``task_id`` and the times are always present;
- a job's per-host results are its ``hosts`` (as in ``run``, ``job``, ``plugins``), each
  named by ``host_id`` and ``hostname`` like the rows of ``starling hosts``.

The terminal renderer (``_render``) reads these same documents, so what a person
sees and what a script reads are one thing.
"""

from __future__ import annotations

from typing import Any

from transports import FINAL_STATES

#: Fields of one host's result, in the order they are printed.
RESULT_FIELDS = (
    "task_id", "host_id", "hostname", "ip", "state", "code", "meaning", "message", "exit_code",
    "stdout", "stderr", "data", "truncated", "times",
)
#: Fields of a job, results aside.
JOB_FIELDS = (
    "job_id", "action", "account", "state", "total", "done", "complete", "counts", "truncated",
    "created", "deadline", "finished", "timeout",
)


def result_doc(r: dict[str, Any]) -> dict[str, Any]:
    """One host's result. The API names the host ``host``; here it is ``host_id``."""
    doc: dict[str, Any] = {
        "task_id": r.get("task_id", ""),
        "host_id": r.get("host_id") or r.get("host") or "",
        "hostname": r.get("hostname") or "",
        "ip": r.get("ip") or "",
        "state": r["state"],
        "code": r.get("code") or "",
        "meaning": r.get("meaning") or "",
        "message": r.get("message") or "",
        "exit_code": r.get("exit_code"),
        "stdout": r.get("stdout") or "",
        "stderr": r.get("stderr") or "",
        "data": r.get("data"),
        "truncated": bool(r.get("truncated")),
        "times": r.get("times") or {},
    }
    if r.get("diagnosis"):
        doc["diagnosis"] = r["diagnosis"]
    if r.get("hint"):
        doc["hint"] = r["hint"]
    return doc


def job_doc(job: dict[str, Any], *, results: bool = True) -> dict[str, Any]:
    """A job as the API's ``GET /v1/jobs/{job}`` (or one row of ``GET /v1/jobs``) gives it."""
    counts = {str(k): int(v) for k, v in (job.get("counts") or {}).items() if v}
    done = sum(n for s, n in counts.items() if s in FINAL_STATES)
    total = int(job.get("total") or 0)
    rows = [result_doc(r) for r in job.get("results") or []] if results else []
    doc: dict[str, Any] = {
        "job_id": job.get("job_id") or job.get("id") or "",
        "action": job.get("action", ""),
        "account": job.get("account", ""),
        "state": job.get("state", ""),
        "total": total,
        "done": done,
        "complete": done >= total,
        "counts": counts,
        # Known only with the results; a listing (``jobs``) says null rather than guess 0.
        "truncated": sum(1 for r in rows if r["truncated"]) if results else None,
        "created": job.get("created"),
        "deadline": job.get("deadline"),
        "finished": job.get("finished"),
        "timeout": job.get("timeout"),
    }
    if results:
        doc["rollout"] = job.get("rollout")
        doc["hosts"] = rows
    return doc


def host_doc(h: dict[str, Any]) -> dict[str, Any]:
    """A host row of ``GET /v1/hosts``: ``id`` becomes ``host_id`` (first)."""
    doc = {"host_id": h.get("host_id") or h.get("id") or ""}
    doc.update((k, v) for k, v in h.items() if k not in ("id", "host_id"))
    return doc


def succeeded_all(job: dict[str, Any]) -> bool:
    return int(job["counts"].get("succeeded", 0)) == int(job["total"])
