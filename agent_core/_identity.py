"""Who this host is: serial number, primary IP, hostname, OS and IDC.

The rules, so that the agent, the CMDB and every other tool agree:

1. A local override file (TOML, keys ``sn``, ``ip``, ``hostname``, ``idc``,
   ``tags``) wins for every key it sets.
2. SN: ``/sys/class/dmi/id/product_serial`` unless it is empty or a vendor
   placeholder; else the DMI ``product_uuid``; else ``mid-<machine-id>``.
3. Primary IP: the first global IPv4 address of the interface that holds the
   IPv4 default route; else the first global IPv4 address of any interface not
   ignored (loopback, docker*, veth*, br-*, virbr*, cni*, flannel*, cali*,
   tun*, tap*, kube*, lxc*); else ``127.0.0.1``.
4. Hostname: the kernel's hostname. IDC: the override, then the config's hint,
   then ``default``.

``starling-agent identity`` prints the result as JSON for any tool to call.
"""

from __future__ import annotations

import ipaddress
import os
import platform
import socket
import tomllib
from pathlib import Path

import msgspec

IGNORED_NIC_PREFIXES = ("lo", "docker", "veth", "br-", "virbr", "cni", "flannel", "cali", "tun", "tap", "kube", "lxc")
SN_PLACEHOLDERS = {
    "", "none", "0", "00000000", "to be filled by o.e.m.", "default string", "not specified",
    "system serial number", "not applicable", "0123456789", "chassis serial number",
}


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


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def collect_sn(root: str = "/") -> tuple[str, str]:
    serial = _read(os.path.join(root, "sys/class/dmi/id/product_serial"))
    if serial.lower() not in SN_PLACEHOLDERS:
        return serial, "dmi:product_serial"
    uuid = _read(os.path.join(root, "sys/class/dmi/id/product_uuid"))
    if uuid and uuid.lower().replace("0", "").replace("-", ""):
        return uuid.lower(), "dmi:product_uuid"
    mid = _read(os.path.join(root, "etc/machine-id")) or _read(os.path.join(root, "var/lib/dbus/machine-id"))
    if mid:
        return f"mid-{mid}", "machine-id"
    return f"host-{socket.gethostname()}", "hostname"


def _default_route_iface(route_file: str = "/proc/net/route") -> str | None:
    try:
        with open(route_file) as fh:
            next(fh, None)
            for line in fh:
                fields = line.split()
                if len(fields) > 2 and fields[1] == "00000000":
                    return fields[0]
    except OSError:
        pass
    return None


def _global_v4(addresses: list[str]) -> str | None:
    for addr in addresses:
        try:
            ip = ipaddress.IPv4Address(addr)
        except ValueError:
            continue
        if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast):
            return addr
    return None


def collect_ip() -> tuple[str, str]:
    import psutil

    addrs = {
        nic: [a.address for a in entries if a.family == socket.AF_INET]
        for nic, entries in psutil.net_if_addrs().items()
    }
    iface = _default_route_iface()
    if iface and iface in addrs:
        ip = _global_v4(addrs[iface])
        if ip:
            return ip, f"default-route:{iface}"
    for nic in sorted(addrs):
        if nic.startswith(IGNORED_NIC_PREFIXES):
            continue
        ip = _global_v4(addrs[nic])
        if ip:
            return ip, f"nic:{nic}"
    return "127.0.0.1", "loopback"


def _os_name() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.system()


def collect_identity(override_file: str | None = None, idc_hint: str = "", tags: list[str] | None = None) -> Identity:
    override: dict[str, object] = {}
    if override_file and os.path.exists(override_file):
        override = tomllib.loads(Path(override_file).read_text())
    sources: dict[str, str] = {}
    if "sn" in override:
        sn, sources["sn"] = str(override["sn"]), "override"
    else:
        sn, sources["sn"] = collect_sn()
    if "ip" in override:
        ip, sources["ip"] = str(override["ip"]), "override"
    else:
        ip, sources["ip"] = collect_ip()
    hostname = str(override.get("hostname") or socket.gethostname())
    idc = str(override.get("idc") or idc_hint or "default")
    tag_list = list(override.get("tags", tags or []))  # type: ignore[call-overload]
    return Identity(
        sn=sn,
        ip=ip,
        hostname=hostname,
        os=_os_name(),
        kernel=platform.release(),
        arch=platform.machine(),
        idc=idc,
        tags=[str(t) for t in tag_list],
        sources=sources,
    )
