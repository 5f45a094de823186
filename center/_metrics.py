"""Prometheus metrics of the center and the proxy (prometheus-client).

Each role instance owns a :class:`prometheus_client.CollectorRegistry` (tests
run several centers and proxies in one process; a process-global registry
would mix them). The hot paths call one-line methods of :class:`CenterMetrics`
or :class:`ProxyMetrics`; figures that are cheaper to read at scrape time
(connected agents, links, buffered results, jobs and tasks by state) are read
then. ``docs/operations.md`` lists every metric.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from transports import ErrorCode

if TYPE_CHECKING:
    from ._center import Center
    from ._store import Store
    from .proxy import Proxy

#: Prometheus text exposition format 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000)
#: Job states whose tasks are counted by state at scrape time (finished jobs
#: are history: their tasks are counted once, as results, by the counters).
ACTIVE_JOB_STATES = ("running", "pending_approval")
#: Store methods whose first argument is the batch (its length is the batch size).
BATCH_OPS = frozenset({"create_job", "mark", "apply_events", "store_results", "finalize", "presence_snapshot", "register_agents"})


def render(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)


class CenterMetrics:
    """The center's metrics; ``registry`` is what ``/metrics`` serves."""

    def __init__(self, center_id: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        r = self.registry
        self.jobs_submitted = Counter(
            "starling_center_jobs_submitted_total", "Jobs accepted by this center, by action.", ["action"], registry=r
        )
        self.results = Counter(
            "starling_center_task_results_total", "Task results stored by this center, by final state.", ["state"], registry=r
        )
        self.errors = Counter(
            "starling_center_errors_total",
            "Failures by catalogue code: API requests refused (where=api) and tasks that ended with a code (where=task).",
            ["code", "where"], registry=r,
        )
        self.interceptions = Counter(
            "starling_center_interceptions_total",
            "Jobs checked by interception, by verdict (allow: no rule matched; warn, approve, block).", ["verdict"], registry=r,
        )
        self.dispatch_seconds = Histogram(
            "starling_center_dispatch_seconds", "From sending one batched dispatch to a proxy until its ack.",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.dispatch_tasks = Counter(
            "starling_center_tasks_dispatched_total", "Tasks a proxy accepted in a dispatch, by proxy.", ["proxy"], registry=r
        )
        self.result_seconds = Histogram(
            "starling_center_result_seconds",
            "From the agent finishing a task (its clock) until the center stored the result.",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.db_seconds = Histogram(
            "starling_center_db_seconds", "Duration of one store operation, by operation.", ["op"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.db_batch = Histogram(
            "starling_center_db_batch_size", "Rows handed to one batched store operation, by operation.", ["op"],
            buckets=BATCH_BUCKETS, registry=r,
        )
        self.proxy_agents = Gauge(
            "starling_center_proxy_agents", "Agents connected to each linked proxy (its last load report).",
            ["proxy", "idc"], registry=r,
        )
        self.proxy_links = Gauge("starling_center_proxy_links", "Proxies linked to this center, by IDC.", ["idc"], registry=r)
        self.jobs = Gauge("starling_center_jobs", "Jobs in the store by state.", ["state"], registry=r)
        self.tasks = Gauge("starling_center_active_tasks", "Tasks of running or held jobs by state.", ["state"], registry=r)
        self.db_up = Gauge("starling_center_db_up", "1 if the last readiness or scrape query reached the database.", registry=r)
        info = Gauge("starling_center_info", "Constant 1, labelled with the center id.", ["center"], registry=r)
        info.labels(center_id).set(1)

    # -- one-liners for the hot paths -------------------------------------------------

    def store_op(self, op: str, args: Sequence[Any], seconds: float) -> None:
        """Every store call: its duration, its batch size, and what it recorded."""
        self.db_seconds.labels(op).observe(seconds)
        if op in BATCH_OPS and args:
            batch = args[1] if op == "create_job" and len(args) > 1 else args[0]
            if isinstance(batch, Sequence):
                self.db_batch.labels(op).observe(len(batch))
        if op == "store_progress" and len(args) == 2:
            # The group commit: every events and results batch gathered meanwhile.
            self.db_batch.labels(op).observe(len(args[0]) + len(args[1]))
            self.results_stored(args[1], time.time())
        elif op == "store_results" and args:
            self.results_stored(args[0], time.time())
        elif op == "finalize" and args:
            self.finalized(args[0])

    def results_stored(self, results: Iterable[Any], now: float) -> None:
        for r in results:
            self.results.labels(r.state).inc()
            if r.code:
                self.errors.labels(r.code, "task").inc()
            if r.finished:
                self.result_seconds.observe(max(0.0, now - r.finished))

    def finalized(self, items: Iterable[tuple[str, str, str, str]]) -> None:
        for _task, state, code, _message in items:
            self.results.labels(state).inc()
            if code:
                self.errors.labels(code, "task").inc()

    def dispatched(self, proxy_id: str, seconds: float, accepted: int) -> None:
        self.dispatch_seconds.observe(seconds)
        self.dispatch_tasks.labels(proxy_id).inc(accepted)

    def refused(self, code: ErrorCode) -> None:
        """A job refused at submission (policy); a block rule counts as a verdict."""
        if code is ErrorCode.C010:
            self.interceptions.labels("block").inc()

    def verdict(self, risk: dict[str, Any] | None) -> None:
        """One admitted job's interception outcome (``allow``: no rule matched)."""
        self.interceptions.labels(str((risk or {}).get("verdict") or "allow")).inc()

    # -- scrape time -------------------------------------------------------------------

    def refresh_links(self, center: Center) -> None:
        self.proxy_agents.clear()
        self.proxy_links.clear()
        per_idc: dict[str, int] = {}
        for link in list(center.links.values()):
            self.proxy_agents.labels(link.proxy_id, link.idc).set(link.connections)
            per_idc[link.idc] = per_idc.get(link.idc, 0) + 1
        for idc, n in per_idc.items():
            self.proxy_links.labels(idc).set(n)

    def refresh_states(self, counts: tuple[dict[str, int], dict[str, int]] | None) -> None:
        if counts is None:
            self.db_up.set(0)
            return
        self.db_up.set(1)
        jobs, tasks = counts
        self.jobs.clear()
        self.tasks.clear()
        for state, n in jobs.items():
            self.jobs.labels(state).set(n)
        for state, n in tasks.items():
            self.tasks.labels(state).set(n)


def state_counts(store: Store) -> tuple[dict[str, int], dict[str, int]]:
    """Jobs by state, and tasks of active jobs by state (blocking; a worker thread)."""
    from ._store import jobs, tasks

    with store.engine.connect() as conn:
        job_rows = conn.execute(sa.select(jobs.c.state, sa.func.count()).group_by(jobs.c.state)).all()
        active = sa.select(jobs.c.id).where(jobs.c.state.in_(ACTIVE_JOB_STATES))
        task_rows = conn.execute(
            sa.select(tasks.c.state, sa.func.count()).where(tasks.c.job_id.in_(active)).group_by(tasks.c.state)
        ).all()
    return {str(s): int(n) for s, n in job_rows}, {str(s): int(n) for s, n in task_rows}


def log_failure(log: logging.Logger, what: str, exc: Exception, **fields: Any) -> None:
    """Log a failure: an unreachable database is an expected condition (one
    WARNING line with C016, the driver's first line); anything else is a bug
    (ERROR with its traceback)."""
    if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError | sa.exc.TimeoutError):
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        log.warning("%s: database unavailable: %s", what, first[0] if first else type(exc).__name__,
                    extra={"code": ErrorCode.C016.value, **fields})
    else:
        log.error("%s", what, exc_info=exc, extra=fields)


def ping_db(store: Store) -> None:
    """Raise if the database cannot answer ``SELECT 1`` (blocking)."""
    with store.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))


class _ProxyCollector(Collector):
    """Reads a proxy's state at scrape time."""

    def __init__(self, proxy: Proxy) -> None:
        self.proxy = proxy

    def collect(self) -> Iterator[Metric]:
        p = self.proxy
        agents = GaugeMetricFamily("starling_proxy_agents", "Agents connected to this proxy.", labels=["proxy", "idc"])
        agents.add_metric([p.proxy_id, p.idc], len(p.agents))
        yield agents
        yield GaugeMetricFamily("starling_proxy_capacity", "Connections above which this proxy drains agents.", value=p.capacity)
        yield GaugeMetricFamily("starling_proxy_center_links", "Centers this proxy is linked to now.", value=len(p._links))
        yield GaugeMetricFamily(
            "starling_proxy_results_pending", "Results held until a center acknowledges them.", value=len(p._results)
        )
        yield GaugeMetricFamily("starling_proxy_tasks_in_flight", "Tasks delivered to agents and not yet answered.",
                                value=sum(len(c.inflight) for c in list(p.agents.values())))
        yield GaugeMetricFamily("starling_proxy_parked_connections",
                                "Quiet agent connections waiting in the parking lot (no task each).", value=len(p.parking))
        yield GaugeMetricFamily("starling_proxy_open_streams", "Interactive streams (terminals) relayed now.", value=len(p.streams.routes))
        tasks = CounterMetricFamily("starling_proxy_tasks", "Tasks handled by this proxy, by outcome.", labels=["outcome"])
        tasks.add_metric(["delivered"], p.stats.get("dispatched", 0))
        tasks.add_metric(["rejected"], p.stats.get("rejected", 0))
        tasks.add_metric(["result"], p.stats.get("results", 0))
        yield tasks


class ProxyMetrics:
    """The proxy's metrics; ``registry`` is what its ``/metrics`` serves."""

    def __init__(self, proxy: Proxy) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        self.registry.register(_ProxyCollector(proxy))
        self.fanout_seconds = Histogram(
            "starling_proxy_dispatch_seconds", "From receiving one dispatch until every task in it was handed to its agent.",
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.errors = Counter(
            "starling_proxy_errors_total", "Failures by catalogue code (tasks rejected, peers refused, links lost).",
            ["code"], registry=self.registry,
        )

    def error(self, code: str, n: int = 1) -> None:
        if n:
            self.errors.labels(code).inc(n)
