"""The Grafana dashboard and docs/operations.md agree with the metrics the
center and the proxy really export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from center._metrics import CenterMetrics, ProxyMetrics
from center.proxy._proxy import Proxy

ROOT = Path(__file__).resolve().parents[2]


def _exported() -> set[str]:
    proxy = Proxy(proxy_id="p", idc="i", centers=[], proxy_token="", advertise=[], client_ssl=None)
    names = set()
    for registry in (CenterMetrics("c").registry, ProxyMetrics(proxy).registry):
        for family in registry.collect():
            names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def test_every_starling_metric_is_documented_and_the_dashboard_uses_only_real_ones() -> None:
    exported = _exported()
    starling = {n for n in exported if n.startswith("starling_")}
    assert len(starling) >= 20
    doc = (ROOT / "docs" / "operations.md").read_text()
    missing = sorted(n for n in starling if f"`{n}`" not in doc)
    assert not missing, f"docs/operations.md does not list {missing}"

    dash = json.loads((ROOT / "contrib" / "grafana" / "starling-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {re.sub(r"_(bucket|sum|count)$", "", m) for e in exprs for m in re.findall(r"\b((?:starling|process)_[a-z_]+)", e)}
    unknown = sorted(u for u in used if u not in exported)
    assert not unknown, f"the dashboard queries metrics nobody exports: {unknown}"
    assert {"starling_center_proxy_agents", "starling_center_dispatch_seconds", "starling_center_errors_total",
            "starling_center_interceptions_total", "process_resident_memory_bytes"} <= used
