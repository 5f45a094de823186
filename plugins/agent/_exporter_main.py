"""The node metrics exporter process (a resident of the ``exporter`` plugin).

``python -m plugins.agent._exporter_main --port 9911`` serves, on loopback:

* ``/metrics``: Prometheus text format (version 0.0.4) read from ``/proc`` on
  every scrape: load, memory, filesystem usage, network and CPU counters. The
  metric names follow node_exporter's, so existing dashboards and alerts work.
* ``/health``: ``200 ok`` (what the agent's supervisor probes).

Standard library only, so the process stays around 15 MB and starts fast; the
agent starts it, probes it, restarts it and caps its memory.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Mount points that are never disks an operator wants to see filling up.
SKIP_MOUNTS = re.compile(r"^/(proc|sys|dev|run/credentials)($|/)")
NET_FIELDS = ("bytes", "packets", "errs", "drop")

Sample = tuple[str, dict[str, str], float]


class Family:
    """One metric family: its help, type and samples."""

    def __init__(self, name: str, kind: str, help_text: str) -> None:
        self.name, self.kind, self.help = name, kind, help_text
        self.samples: list[tuple[dict[str, str], float]] = []

    def add(self, value: float, **labels: str) -> None:
        self.samples.append((labels, value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def render(families: Iterable[Family]) -> str:
    """Prometheus text exposition of ``families`` (empty families are left out)."""
    lines: list[str] = []
    for fam in families:
        if not fam.samples:
            continue
        lines.append(f"# HELP {fam.name} {fam.help}")
        lines.append(f"# TYPE {fam.name} {fam.kind}")
        for labels, value in fam.samples:
            if labels:
                inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
                lines.append(f"{fam.name}{{{inner}}} {_number(value)}")
            else:
                lines.append(f"{fam.name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _read(path: str) -> str:
    with open(path) as fh:
        return fh.read()


def load() -> list[Family]:
    one, five, fifteen = _read("/proc/loadavg").split()[:3]
    out = []
    for name, value in (("node_load1", one), ("node_load5", five), ("node_load15", fifteen)):
        fam = Family(name, "gauge", f"{name[9:]}m load average.")
        fam.add(float(value))
        out.append(fam)
    return out


def memory() -> list[Family]:
    """Every /proc/meminfo line as ``node_memory_<Key>_bytes`` (node_exporter's names)."""
    out = []
    for line in _read("/proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        fields = rest.split()
        if not fields:
            continue
        value = float(fields[0]) * (1024 if len(fields) > 1 and fields[1] == "kB" else 1)
        name = re.sub(r"[^a-zA-Z0-9_]", "_", key.replace("(", "_").replace(")", ""))
        unit = "_bytes" if len(fields) > 1 else ""
        fam = Family(f"node_memory_{name}{unit}", "gauge", f"Memory information field {name}{unit}.")
        fam.add(value)
        out.append(fam)
    return out


def _nodev_types() -> set[str]:
    kinds = set()
    for line in _read("/proc/filesystems").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "nodev":
            kinds.add(parts[1])
    return kinds - {"tmpfs"}  # tmpfs fills up and matters (/run, /tmp)


def filesystems() -> list[Family]:
    fams = {
        "size": Family("node_filesystem_size_bytes", "gauge", "Filesystem size in bytes."),
        "free": Family("node_filesystem_free_bytes", "gauge", "Filesystem free space in bytes."),
        "avail": Family("node_filesystem_avail_bytes", "gauge", "Filesystem space available to non-root users in bytes."),
        "files": Family("node_filesystem_files", "gauge", "Filesystem total file nodes."),
        "files_free": Family("node_filesystem_files_free", "gauge", "Filesystem total free file nodes."),
        "readonly": Family("node_filesystem_readonly", "gauge", "Filesystem read-only status."),
    }
    skip_types = _nodev_types()
    seen: set[str] = set()
    for line in _read("/proc/self/mounts").splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        device, mount, fstype, options = parts[0], _unescape_mount(parts[1]), parts[2], parts[3]
        if fstype in skip_types or SKIP_MOUNTS.match(mount) or mount in seen:
            continue
        seen.add(mount)
        try:
            st = os.statvfs(mount)
        except OSError:
            continue
        labels = {"device": device, "fstype": fstype, "mountpoint": mount}
        fams["size"].add(st.f_blocks * st.f_frsize, **labels)
        fams["free"].add(st.f_bfree * st.f_frsize, **labels)
        fams["avail"].add(st.f_bavail * st.f_frsize, **labels)
        fams["files"].add(st.f_files, **labels)
        fams["files_free"].add(st.f_ffree, **labels)
        fams["readonly"].add(1 if "ro" in options.split(",") else 0, **labels)
    return list(fams.values())


def _unescape_mount(path: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def network() -> list[Family]:
    fams: dict[str, Family] = {}
    for direction in ("receive", "transmit"):
        for field in NET_FIELDS:
            name = f"node_network_{direction}_{field}_total"
            fams[f"{direction}_{field}"] = Family(name, "counter", f"Network device statistic {direction}_{field}.")
    for line in _read("/proc/net/dev").splitlines()[2:]:
        dev, _, rest = line.partition(":")
        values = rest.split()
        if len(values) < 16:
            continue
        device = dev.strip()
        for i, field in enumerate(NET_FIELDS):
            fams[f"receive_{field}"].add(float(values[i]), device=device)
            fams[f"transmit_{field}"].add(float(values[8 + i]), device=device)
    return list(fams.values())


CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_and_stat() -> list[Family]:
    hz = os.sysconf("SC_CLK_TCK") or 100
    cpu = Family("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.")
    singles = {
        "btime": Family("node_boot_time_seconds", "gauge", "Node boot time, in unixtime."),
        "ctxt": Family("node_context_switches_total", "counter", "Total number of context switches."),
        "processes": Family("node_forks_total", "counter", "Total number of forks."),
        "procs_running": Family("node_procs_running", "gauge", "Number of processes in runnable state."),
        "procs_blocked": Family("node_procs_blocked", "gauge", "Number of processes blocked waiting for I/O to complete."),
    }
    for line in _read("/proc/stat").splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0].startswith("cpu") and parts[0] != "cpu":
            for mode, ticks in zip(CPU_MODES, parts[1:], strict=False):
                cpu.add(int(ticks) / hz, cpu=parts[0][3:], mode=mode)
        elif parts[0] in singles:
            singles[parts[0]].add(float(parts[1]))
    return [cpu, *singles.values()]


COLLECTORS = (load, memory, filesystems, network, cpu_and_stat)


class Exporter:
    """Collects on every scrape and counts its own work (``starling_exporter_*``)."""

    def __init__(self) -> None:
        self.scrapes = 0
        self.errors = 0
        self.lock = threading.Lock()

    def scrape(self) -> str:
        began = time.monotonic()
        families: list[Family] = []
        failed = 0
        for collector in COLLECTORS:
            try:
                families.extend(collector())
            except (OSError, ValueError) as exc:
                failed += 1
                print(f"collector {collector.__name__} failed: {exc}", file=sys.stderr, flush=True)
        with self.lock:
            self.scrapes += 1
            self.errors += failed
            scrapes, errors = self.scrapes, self.errors
        own = [
            Family("starling_exporter_scrapes_total", "counter", "Scrapes served by this exporter."),
            Family("starling_exporter_collector_errors_total", "counter", "Collectors that failed, summed over scrapes."),
            Family("starling_exporter_scrape_duration_seconds", "gauge", "Time this scrape took to collect."),
        ]
        own[0].add(scrapes)
        own[1].add(errors)
        own[2].add(round(time.monotonic() - began, 6))
        return render(families + own)


def make_handler(exporter: Exporter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "starling-exporter"
        timeout = 10  # a stuck client must not hold a thread forever

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, exporter.scrape(), CONTENT_TYPE)
            elif path == "/health":
                self._send(200, "ok\n", "text/plain")
            elif path == "/":
                self._send(200, "starling node exporter: /metrics /health\n", "text/plain")
            else:
                self._send(404, "not found\n", "text/plain")

        def _send(self, status: int, body: str, ctype: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            # Scrapes every 15 s would fill the log; only errors are worth keeping.
            if args and str(args[1] if len(args) > 1 else "").startswith(("4", "5")):
                sys.stderr.write(f"{self.address_string()} {format % args}\n")

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="starling-exporter")
    parser.add_argument("--port", type=int, default=9911)
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error("--port must be 1..65535")
    server = ThreadingHTTPServer((args.address, args.port), make_handler(Exporter()))
    server.daemon_threads = True
    print(f"serving on http://{args.address}:{args.port}/metrics", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
