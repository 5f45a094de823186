"""Node metrics for Prometheus, served by a resident process the agent keeps alive.

When enabled in the agent config (``[agent.plugin_config."agent.exporter"]``
``enabled = true``, ``port = 9911``, ``address = "127.0.0.1"``), the agent runs
``python -m plugins.agent._exporter_main`` as a resident: it serves load,
memory, filesystem, network and CPU counters from ``/proc`` in Prometheus text
format on ``/metrics`` (node_exporter's metric names), and the agent probes its
``/health``, restarts it with backoff and caps it at 64 MB RSS and a quarter of
a core. It is off by default because a listening port on every host is a fleet
decision (and several agents on one machine would share the port).
``agent.exporter.status`` says whether it is enabled, what the supervisor reports and
whether it answers a scrape right now.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import msgspec

from agent_core import (
    ActionContext,
    NoParams,
    Plugin,
    Resident,
    Risk,
    Unavailable,
    action,
    hookimpl,
)

PLUGIN = Plugin("agent.exporter", domain="agent")
RESIDENT = "agent.exporter.node"


class ExporterConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The plugin's section of the agent config."""

    enabled: bool = False
    port: int = 9911
    #: 127.0.0.1 (default) or 0.0.0.0 to let a Prometheus on another host scrape.
    address: str = "127.0.0.1"
    max_rss_mb: int = 64
    cpu_percent: float = 25.0


def settings(config: dict[str, Any] | None) -> ExporterConfig:
    """Validate the plugin config; raises ``ValueError`` with the reason."""
    try:
        cfg = msgspec.convert(config or {}, ExporterConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f'plugin_config."agent.exporter": {exc}') from exc
    if not 0 < cfg.port < 65536:
        raise ValueError(f'plugin_config."agent.exporter": port {cfg.port} out of range 1..65535')
    if cfg.address not in ("127.0.0.1", "0.0.0.0"):
        raise ValueError('plugin_config."agent.exporter": address must be 127.0.0.1 or 0.0.0.0')
    return cfg


class ExporterStatus(msgspec.Struct):
    enabled: bool
    url: str
    #: The supervisor's line for the resident ("running pid 123 restarts 0"), "" if unknown.
    resident: str
    #: It answered a scrape of /metrics just now.
    answering: bool
    detail: str
    #: Metric families and samples in that scrape.
    families: int = 0
    samples: int = 0
    scrape_ms: float = 0.0


@hookimpl
def starling_residents(config: dict[str, Any]) -> list[Resident]:
    cfg = settings(config)
    if not cfg.enabled:
        return []
    argv = [sys.executable, "-m", "plugins.agent._exporter_main", "--port", str(cfg.port), "--address", cfg.address]
    return [
        Resident(
            name=RESIDENT,
            argv=argv,
            health_url=f"http://127.0.0.1:{cfg.port}/health",
            max_rss_mb=cfg.max_rss_mb,
            cpu_percent=cfg.cpu_percent,
            check_interval=10.0,
        )
    ]


def _resident_line(ctx: ActionContext) -> str:
    try:
        status = json.loads((ctx.agent.state_dir / "residents" / "status.json").read_text())
    except (OSError, ValueError):
        return ""
    return str(status.get(RESIDENT, ""))


def _scrape(url: str) -> tuple[int, str]:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


@action("agent.exporter.status", risk=Risk.READ, timeout=15)
async def status(ctx: ActionContext, p: NoParams) -> ExporterStatus:
    """Whether the exporter is enabled, the supervisor's view of it, and a live scrape."""
    import trio

    try:
        cfg = settings(dict(ctx.config))
    except ValueError as exc:
        # A bad config section makes the plugin unusable on this host until fixed.
        raise Unavailable(str(exc)) from exc
    url = f"http://127.0.0.1:{cfg.port}/metrics"
    line = _resident_line(ctx)
    if not cfg.enabled:
        return ExporterStatus(False, url, line, False, 'disabled: set plugin_config."agent.exporter".enabled = true')
    began = time.monotonic()
    try:
        code, body = await trio.to_thread.run_sync(_scrape, url, abandon_on_cancel=True)
    except OSError as exc:
        return ExporterStatus(True, url, line, False, f"scrape failed: {getattr(exc, 'reason', exc)}")
    took = round((time.monotonic() - began) * 1000, 2)
    lines = body.splitlines()
    families = sum(1 for x in lines if x.startswith("# TYPE "))
    samples = sum(1 for x in lines if x and not x.startswith("#"))
    return ExporterStatus(True, url, line, code == 200, f"HTTP {code}", families, samples, took)
