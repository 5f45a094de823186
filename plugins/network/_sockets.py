"""The sockets capability: one row shape (:class:`Socket`) from three backends.

Not a plugin. ``net.sockets`` and ``sec.ports`` (through :mod:`plugins.network`) read
the host's TCP/UDP sockets with :func:`read_sockets`, which picks a backend:

* ``procfs`` — ``/proc/net/{tcp,udp}{,6}`` through :mod:`agent_core.procfs`,
  owners from ``/proc/*/fd``. The only one that gives every field (queues,
  uid and inode for every socket), so it is the first choice;
* ``psutil`` — :func:`psutil.net_connections`, where ``/proc/net`` cannot be
  read (other platforms, a hidden procfs): no queues and no inode;
* ``ss`` — ``ss -tuanpe`` (iproute2) where neither works.

Every backend returns the same rows: protocol without the family digit
(``tcp``/``udp``), ``family``, IPv4-mapped IPv6 addresses shown as IPv4, TCP
states by their kernel names (``ESTABLISHED``, ``TIME_WAIT``), ``UNCONN`` for an
unconnected UDP socket; fields a backend cannot know are ``None``.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket

import msgspec

from agent_core import ActionError, ErrorCode, InvalidParams
from agent_core.procfs import TCP_STATES

BACKENDS = ("auto", "procfs", "psutil", "ss")
PROTOS = {"tcp": ("tcp",), "udp": ("udp",), "any": ("tcp", "udp")}
STATES = frozenset(TCP_STATES.values()) | {"UNCONN"}


class Socket(msgspec.Struct):
    """One TCP or UDP socket, the same whatever the backend."""

    proto: str
    """``tcp`` or ``udp``."""
    family: str
    """``inet`` or ``inet6``."""
    local: str
    local_port: int
    remote: str
    remote_port: int
    state: str
    """Kernel TCP state (``LISTEN``, ``ESTABLISHED``, ``TIME_WAIT``...) or ``UNCONN`` (UDP)."""
    listening: bool
    """A TCP listener or an unconnected, bound UDP socket."""
    exposed: bool
    """Bound to a wildcard or non-loopback address (reachable from elsewhere)."""
    pid: int | None
    process: str
    uid: int | None
    user: str
    inode: int | None
    send_queue: int | None
    recv_queue: int | None


def _addr(text: str) -> str:
    text = text.strip("[]").split("%")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return str(ip)


def _exposed(addr: str) -> bool:
    try:
        return not ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return True


_USERS: dict[int, str] = {}


def _user(uid: int | None) -> str:
    import pwd

    if uid is None:
        return ""
    if uid not in _USERS:
        try:
            _USERS[uid] = pwd.getpwuid(uid).pw_name
        except KeyError:
            _USERS[uid] = str(uid)
    return _USERS[uid]


def _row(
    proto: str, family: str, local: str, lport: int, remote: str, rport: int, state: str, *,
    pid: int | None = None, process: str = "", uid: int | None = None, inode: int | None = None,
    send_queue: int | None = None, recv_queue: int | None = None,
) -> Socket:
    local, remote = _addr(local), _addr(remote)
    listening = state == "LISTEN" if proto == "tcp" else state == "UNCONN" and rport == 0
    return Socket(
        proto=proto, family=family, local=local, local_port=lport, remote=remote, remote_port=rport,
        state=state, listening=listening, exposed=_exposed(local), pid=pid, process=process,
        uid=uid, user=_user(uid), inode=inode, send_queue=send_queue, recv_queue=recv_queue,
    )


# --------------------------------------------------------------------------- backends


def from_procfs(protos: tuple[str, ...], owners: bool) -> list[Socket]:
    from agent_core import procfs

    tables = tuple(t for p in protos for t in (p, p + "6"))
    found = procfs.socket_owners() if owners else {}
    out = []
    for r in procfs.read_sockets(tables):
        pid, comm = found.get(r.inode, (None, ""))
        out.append(
            _row(
                r.proto.rstrip("6"), "inet6" if r.proto.endswith("6") else "inet",
                r.local, r.lport, r.remote, r.rport, r.state, pid=pid, process=comm, uid=r.uid,
                inode=r.inode, send_queue=r.tx_queue, recv_queue=r.rx_queue,
            )
        )
    return out


def from_psutil(protos: tuple[str, ...], owners: bool) -> list[Socket]:
    import psutil

    kind = "inet" if len(protos) == 2 else protos[0]
    names: dict[int, tuple[str, int | None]] = {}
    out = []
    for c in psutil.net_connections(kind):
        if not c.laddr:  # a socket not bound yet has no endpoint to show
            continue
        proto = "tcp" if c.type == socket.SOCK_STREAM else "udp"
        remote = c.raddr.ip if c.raddr else ("::" if c.family == socket.AF_INET6 else "0.0.0.0")
        rport = c.raddr.port if c.raddr else 0
        state = c.status if proto == "tcp" else ("ESTABLISHED" if c.raddr else "UNCONN")
        pid = c.pid if owners else None
        process, uid = "", None
        if pid is not None:
            if pid not in names:
                try:
                    proc = psutil.Process(pid)
                    names[pid] = (proc.name(), proc.uids().real)
                except psutil.Error:
                    names[pid] = ("", None)
            process, uid = names[pid]
        out.append(
            _row(
                proto, "inet6" if c.family == socket.AF_INET6 else "inet",
                c.laddr.ip, c.laddr.port, remote, rport, state, pid=pid, process=process, uid=uid,
            )
        )
    return out


_SS_STATES = {"ESTAB": "ESTABLISHED", "UNCONN": "UNCONN"}


def _ss_endpoint(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if host == "*":
        host = "::"
    return host, 0 if port == "*" else int(port)


def parse_ss(text: str) -> list[Socket]:
    """``ss -H -tuanpe`` output (netid, state, recv-q, send-q, local, peer, extras) into rows."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 6 or f[0] not in ("tcp", "udp"):
            continue
        local, lport = _ss_endpoint(f[4])
        remote, rport = _ss_endpoint(f[5])
        state = _SS_STATES.get(f[1], f[1].replace("-", "_"))
        if f[1] == "ESTAB" and f[0] == "udp":
            state = "ESTABLISHED"
        extras = " ".join(f[6:])
        pid, process, uid, inode = None, "", None, None
        if 'users:(("' in extras:
            inner = extras.split('users:(("', 1)[1]
            process = inner.split('"', 1)[0]
            if "pid=" in inner:
                pid = int(inner.split("pid=", 1)[1].split(",", 1)[0].rstrip(")"))
        for item in f[6:]:
            if item.startswith("uid:"):
                uid = int(item[4:])
            elif item.startswith("ino:"):
                inode = int(item[4:])
        family = "inet6" if ":" in local else "inet"
        # ss shows no uid for sockets of root; a socket with an inode but no uid is root's.
        if uid is None and inode:
            uid = 0
        # For a listener ss shows the backlog as Send-Q; the kernel table (procfs) says 0.
        send_q = 0 if state == "LISTEN" else int(f[3])
        out.append(
            _row(f[0], family, local, lport, remote, rport, state, pid=pid, process=process, uid=uid,
                 inode=inode, send_queue=send_q, recv_queue=int(f[2]))
        )
    return out


def from_ss(protos: tuple[str, ...], owners: bool) -> list[Socket]:
    import subprocess

    # Both protocols always: with only one, ss drops the netid column the parser reads.
    flags = "-Htuan" + ("p" if owners else "") + "e"
    res = subprocess.run(["ss", flags], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise ActionError(f"ss {flags} failed: {res.stderr.strip()}", code=ErrorCode.A008)
    return [row for row in parse_ss(res.stdout) if row.proto in protos]


_READERS = {"procfs": from_procfs, "psutil": from_psutil, "ss": from_ss}


def pick_backend(backend: str = "auto") -> str:
    """The backend to use: the one asked for (A003 if it cannot work here) or the first that can."""
    if backend not in BACKENDS:
        raise InvalidParams(f"backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    usable = {
        "procfs": lambda: os.access("/proc/net/tcp", os.R_OK),
        "psutil": _psutil_works,
        "ss": lambda: shutil.which("ss") is not None,
    }
    if backend != "auto":
        if not usable[backend]():
            raise ActionError(f"socket backend {backend} cannot work on this host", code=ErrorCode.A003)
        return backend
    for name in ("procfs", "psutil", "ss"):
        if usable[name]():
            return name
    raise ActionError("no socket backend: /proc/net unreadable, psutil fails and ss is not installed", code=ErrorCode.A003)


def _psutil_works() -> bool:
    try:
        import psutil

        psutil.net_connections("tcp")
        return True
    except Exception:
        return False


def read_sockets(protos: tuple[str, ...], owners: bool = True, backend: str = "auto") -> tuple[str, list[Socket]]:
    """``(backend used, rows)`` for the protocols ``tcp`` and/or ``udp``."""
    name = pick_backend(backend)
    return name, _READERS[name](protos, owners)
