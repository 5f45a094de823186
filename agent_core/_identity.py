"""Who this host is: serial number, primary IP, hostname, OS and IDC.

The rules are written down, versioned, in ``docs/identity.md`` (spec version
:data:`SPEC_VERSION`); this module implements them, and ``starling-agent
identity`` prints the result as JSON for any other tool to call. In short:

1. A local override file (TOML: ``sn``, ``ip``, ``hostname``, ``idc``, ``tags``)
   wins for every key it sets.
2. SN: the first source whose value is not junk, in order — DMI
   ``product_serial``, ``board_serial``, ``chassis_serial``, ``product_uuid``,
   the device-tree ``serial-number`` (ARM boards), the s390 ``Sequence Code``;
   then a generated stable id: ``mid-<machine-id>``, else ``gen-<uuid4>``
   written once to the state directory.
3. Primary IP: among global IPv4 addresses of interfaces that are up and not
   ignored (loopback, containers, bridges, tunnels, overlays), the first inside a
   preferred CIDR (in the order given); else the address of the default route
   (lowest metric, its ``prefsrc`` first) when that interface is not ignored;
   else the first candidate by interface name; else ``127.0.0.1``.

Every input is a file under a root directory (``/`` by default) or the JSON of
``ip -j addr`` / ``ip -j route``, so tests run the rules on fixture machines.
"""

from __future__ import annotations

import ipaddress
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import tomllib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

SPEC_VERSION = "1"

IGNORED_NIC_PREFIXES = (
    "lo", "docker", "veth", "br-", "virbr", "cni", "flannel", "cali", "tun", "tap", "kube", "lxc", "lxd",
    "vxlan", "genev", "cilium", "weave", "podman", "vnet", "wg", "tailscale", "zt", "ipip", "gre", "sit", "dummy", "nodelocaldns",
)
#: Values vendors put where a serial should be (compared case-insensitively, spaces collapsed).
SN_PLACEHOLDERS = {
    "", "none", "null", "n/a", "na", "unknown", "default", "default string", "to be filled by o.e.m.", "to be filled by oem",
    "not specified", "not applicable", "not available", "system serial number", "chassis serial number", "base board serial number",
    "serial number", "0123456789", "123456789", "1234567890", "0123456789abcdef", "no asset tag", "empty", "oem", "o.e.m.",
    "invalid", "type1productconfigid", "sys-1234567890", "xxxxxxxxxx",
}
#: UUIDs some firmware ships on every board.
UUID_PLACEHOLDERS = {"03000200-0400-0500-0006-000700080009", "12345678-1234-5678-90ab-cddeefaabbcc"}
SN_SOURCES = (
    ("dmi:product_serial", "sys/class/dmi/id/product_serial"),
    ("dmi:board_serial", "sys/class/dmi/id/board_serial"),
    ("dmi:chassis_serial", "sys/class/dmi/id/chassis_serial"),
    ("dmi:product_uuid", "sys/class/dmi/id/product_uuid"),
    ("devicetree:serial-number", "proc/device-tree/serial-number"),
    ("devicetree:serial-number", "sys/firmware/devicetree/base/serial-number"),
)
MAX_SN = 128


class Identity(msgspec.Struct, omit_defaults=True, kw_only=True):
    sn: str
    ip: str
    hostname: str
    os: str = ""
    kernel: str = ""
    arch: str = ""
    idc: str = "default"
    tags: list[str] = []
    sources: dict[str, str] = {}
    #: The version of docs/identity.md these values follow.
    spec: str = ""


def _read(path: str | Path) -> str:
    try:
        # Device-tree strings end in NUL; firmware pads with spaces.
        return Path(path).read_bytes().replace(b"\x00", b"").decode("utf-8", "replace").strip()
    except OSError:
        return ""


def is_junk(value: str, *, is_uuid: bool = False) -> bool:
    """A placeholder, not a serial: empty, a known vendor filler, one repeated
    character (``00000000``, ``FFFF``), a run like ``0123456789``, too short or
    long, or not printable."""
    v = " ".join(value.split()).lower()
    if v in SN_PLACEHOLDERS or len(v) < 3 or len(v) > MAX_SN or not v.isprintable():
        return True
    compact = v.replace("-", "").replace(" ", "").replace(":", "")
    if not compact or len(set(compact)) == 1:
        return True
    if compact in "0123456789abcdefghijklmnopqrstuvwxyz" or compact in "9876543210":
        return True
    if is_uuid and v in UUID_PLACEHOLDERS:
        return True
    return v.startswith("to be filled") or v.startswith("default ")


def collect_sn(root: str | Path = "/", state_dir: str | Path | None = None) -> tuple[str, str]:
    """The host's serial number and which source gave it."""
    root = Path(root)
    for source, rel in SN_SOURCES:
        value = _read(root / rel)
        if value and not is_junk(value, is_uuid=source.endswith("uuid")):
            return (value.lower() if source.endswith("uuid") else value), source
    sysinfo = _read(root / "proc/sysinfo")
    m = re.search(r"^Sequence Code:\s*(\S+)", sysinfo, re.M)
    if m and not is_junk(m.group(1)):
        return m.group(1), "s390:sequence-code"
    for rel in ("etc/machine-id", "var/lib/dbus/machine-id"):
        mid = _read(root / rel)
        if re.fullmatch(r"[0-9a-f]{32}", mid) and not is_junk(mid):
            return f"mid-{mid}", "machine-id"
    if state_dir is not None:
        path = Path(state_dir) / "generated-sn"
        got = _read(path)
        if got.startswith("gen-"):
            return got, "generated"
        value = f"gen-{uuid.uuid4().hex}"
        try:
            from transports import private_dir, write_private

            # An identity: 0600 from the first byte, in the agent's 0700 state directory.
            write_private(private_dir(path.parent) / path.name, value + "\n")
            return value, "generated"
        except OSError:
            pass
    return f"host-{socket.gethostname()}", "hostname"


# -- primary IP ---------------------------------------------------------------------------


@dataclass
class Nic:
    name: str
    up: bool
    addresses: list[str] = field(default_factory=list)


def nics_from_ip_json(doc: Sequence[dict[str, Any]]) -> list[Nic]:
    """Interfaces from ``ip -j addr show`` output."""
    out = []
    for link in doc:
        flags = set(link.get("flags") or [])
        state = str(link.get("operstate") or "")
        up = "UP" in flags and state not in ("DOWN", "LOWERLAYERDOWN", "NOTPRESENT")
        addrs = [a["local"] for a in link.get("addr_info") or [] if a.get("family") == "inet" and a.get("local") and a.get("scope", "global") == "global"]
        out.append(Nic(name=str(link.get("ifname", "")), up=up, addresses=addrs))
    return out


def default_route(routes: Sequence[dict[str, Any]]) -> tuple[str, str] | None:
    """``(interface, prefsrc)`` of the IPv4 default route with the lowest metric."""
    best: tuple[int, str, str] | None = None
    for r in routes:
        if r.get("dst") not in ("default", "0.0.0.0/0") or not r.get("dev"):
            continue
        metric = int(r.get("metric") or 0)
        if best is None or metric < best[0]:
            best = (metric, str(r["dev"]), str(r.get("prefsrc") or ""))
    return (best[1], best[2]) if best else None


def _global_v4(addr: str) -> bool:
    try:
        ip = ipaddress.IPv4Address(addr)
    except ValueError:
        return False
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def ignored(name: str, prefixes: Iterable[str] = IGNORED_NIC_PREFIXES) -> bool:
    return name.startswith(tuple(prefixes))


def choose_ip(nics: Sequence[Nic], routes: Sequence[dict[str, Any]], preferred: Sequence[str] = (), ignore: Iterable[str] = IGNORED_NIC_PREFIXES) -> tuple[str, str]:
    """The primary IP under the rules above, and the rule that chose it."""
    ignore = tuple(ignore)
    usable = {n.name: [a for a in n.addresses if _global_v4(a)] for n in nics if n.up and not ignored(n.name, ignore)}
    usable = {k: v for k, v in usable.items() if v}
    for cidr in preferred:
        net = ipaddress.IPv4Network(cidr, strict=False)
        for name in sorted(usable):
            for addr in usable[name]:
                if ipaddress.IPv4Address(addr) in net:
                    return addr, f"preferred-cidr:{cidr}:{name}"
    route = default_route(routes)
    if route is not None and route[0] in usable:
        dev, prefsrc = route
        if prefsrc in usable[dev]:
            return prefsrc, f"default-route:{dev}"
        return usable[dev][0], f"default-route:{dev}"
    for name in sorted(usable):
        return usable[name][0], f"nic:{name}"
    return "127.0.0.1", "loopback"


def _ip_json(*args: str) -> list[dict[str, Any]] | None:
    ip = shutil.which("ip")
    if ip is None:
        return None
    try:
        out = subprocess.run([ip, "-j", *args], capture_output=True, timeout=5, check=True).stdout
        doc = json.loads(out or b"[]")
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return doc if isinstance(doc, list) else None


def _nics_psutil() -> list[Nic]:
    import psutil

    stats = psutil.net_if_stats()
    return [
        Nic(name=nic, up=bool(stats[nic].isup) if nic in stats else True, addresses=[a.address for a in entries if a.family == socket.AF_INET])
        for nic, entries in psutil.net_if_addrs().items()
    ]


def _routes_proc(route_file: str = "/proc/net/route") -> list[dict[str, Any]]:
    out = []
    try:
        with open(route_file) as fh:
            next(fh, None)
            for line in fh:
                f = line.split()
                if len(f) > 6 and f[1] == "00000000":
                    out.append({"dst": "default", "dev": f[0], "metric": int(f[6])})
    except OSError:
        pass
    return out


def collect_ip(preferred: Sequence[str] = ()) -> tuple[str, str]:
    """The live host's primary IP (``ip -j``, else psutil and /proc/net/route)."""
    addr_doc, route_doc = _ip_json("addr", "show"), _ip_json("route", "show", "default")
    nics = nics_from_ip_json(addr_doc) if addr_doc is not None else _nics_psutil()
    routes = route_doc if route_doc is not None else _routes_proc()
    return choose_ip(nics, routes, preferred)


def _os_name(root: Path = Path("/")) -> str:
    for line in _read(root / "etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.system()


def read_override(path: str | None) -> dict[str, Any]:
    if not path or not os.path.exists(path):
        return {}
    try:
        return tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"identity override {path}: {exc}") from exc


def collect_identity(
    override_file: str | None = None,
    idc_hint: str = "",
    tags: list[str] | None = None,
    *,
    root: str | Path = "/",
    state_dir: str | Path | None = None,
    preferred_cidrs: Sequence[str] = (),
    ip_addr: Sequence[dict[str, Any]] | None = None,
    ip_route: Sequence[dict[str, Any]] | None = None,
) -> Identity:
    """Apply the identity rules. ``root``, ``ip_addr`` and ``ip_route`` replace the
    live machine (fixtures); ``state_dir`` keeps a generated SN stable."""
    override = read_override(override_file)
    sources: dict[str, str] = {}
    if "sn" in override:
        sn, sources["sn"] = str(override["sn"]), "override"
    else:
        sn, sources["sn"] = collect_sn(root, state_dir)
    if "ip" in override:
        ip, sources["ip"] = str(override["ip"]), "override"
    elif ip_addr is not None:
        ip, sources["ip"] = choose_ip(nics_from_ip_json(ip_addr), ip_route or [], preferred_cidrs)
    else:
        ip, sources["ip"] = collect_ip(preferred_cidrs)
    live = Path(root) == Path("/")
    hostname = str(override.get("hostname") or (socket.gethostname() if live else _read(Path(root) / "etc/hostname") or "localhost"))
    idc = str(override.get("idc") or idc_hint or "default")
    tag_list = override.get("tags", tags or [])
    return Identity(
        sn=sn,
        ip=ip,
        hostname=hostname,
        os=_os_name(Path(root)),
        kernel=platform.release() if live else "",
        arch=platform.machine() if live else "",
        idc=idc,
        tags=[str(t) for t in tag_list] if isinstance(tag_list, list) else [],
        sources=sources,
        spec=SPEC_VERSION,
    )
