"""Everything about one process: identity, memory, CPU, I/O, scheduling, namespaces, capabilities.

``proc.info`` gathers what an operator otherwise collects from a dozen
``/proc/PID`` files: executable, command line, working and root directory,
real and effective user and group, state, start time, parent, threads,
voluntary and involuntary context switches, CPU time, nice and I/O priority,
CPU affinity, resident/virtual/swapped memory, bytes read and written, open
descriptors, cgroup, namespace ids (compare two processes to see if they share
a container), OOM score and adjustment, seccomp mode, ``no_new_privs`` and the
effective capabilities decoded to names. Reads only.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, NotFound, Plugin, Risk, action
from agent_core.procfs import kib_value, listdir, parse_colon_kv, read
from plugins.processes._common import get_process

PLUGIN = Plugin("proc.info", domain="processes", requires_files=["/proc/self/status"])

CAPS = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
    "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
    "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
    "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
    "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
    "checkpoint_restore",
)  # fmt: skip
SECCOMP = {"0": "disabled", "1": "strict", "2": "filter"}
IOPRIO_CLASSES = {0: "none", 1: "realtime", 2: "best-effort", 3: "idle"}


class Params(msgspec.Struct, forbid_unknown_fields=True):
    pid: int


class ProcInfo(msgspec.Struct):
    pid: int
    ppid: int
    name: str
    exe: str
    cmdline: list[str]
    cwd: str
    root: str
    state: str
    started: float
    uids: list[int]
    gids: list[int]
    user: str
    threads: int
    ctx_voluntary: int
    ctx_involuntary: int
    cpu_user: float
    cpu_system: float
    nice: int
    ionice: str
    affinity: list[int]
    rss: int
    vms: int
    swap: int
    read_bytes: int | None
    write_bytes: int | None
    fds: int | None
    cgroup: str
    namespaces: dict[str, str]
    oom_score: int | None
    oom_score_adj: int | None
    seccomp: str
    no_new_privs: bool
    capabilities: list[str]


def decode_caps(hexmask: str) -> list[str]:
    """A ``CapEff`` hex mask to capability names (unknown bits as ``cap_N``)."""
    mask = int(hexmask, 16)
    return [CAPS[i] if i < len(CAPS) else f"cap_{i}" for i in range(64) if mask >> i & 1]


def _link(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


def _int_file(path: str) -> int | None:
    text = read(path)
    return int(text) if text and text.lstrip("-").isdigit() else None


def _cgroup(pid: int) -> str:
    """The unified (v2) cgroup path, else the first controller's path."""
    lines = (read(f"/proc/{pid}/cgroup") or "").splitlines()
    unified = [line for line in lines if line.startswith("0::")]
    chosen = unified[0] if unified else (lines[0] if lines else "")
    return chosen.split(":", 2)[-1]


def collect(pid: int) -> ProcInfo:
    import psutil

    p = Params(pid=pid)
    proc = get_process(pid)
    status = parse_colon_kv(read(f"/proc/{p.pid}/status") or "")
    if not status:
        raise NotFound(f"process {p.pid} exited")
    io = parse_colon_kv(read(f"/proc/{p.pid}/io") or "")
    try:
        with proc.oneshot():
            times = proc.cpu_times()
            mem = proc.memory_info()
            try:
                ionice = proc.ionice()
                io_text = f"{IOPRIO_CLASSES.get(int(ionice.ioclass), str(ionice.ioclass))}/{ionice.value}"
            except (psutil.AccessDenied, AttributeError):
                io_text = ""
            try:
                user = proc.username()
            except KeyError:
                user = status.get("Uid", "").split()[0]
            cmdline = proc.cmdline()
            started, name, ppid, state, nice = proc.create_time(), proc.name(), proc.ppid(), proc.status(), proc.nice()
            affinity = proc.cpu_affinity()
    except psutil.NoSuchProcess:
        raise NotFound(f"process {p.pid} exited") from None
    fd_names = listdir(f"/proc/{p.pid}/fd")
    return ProcInfo(
        pid=p.pid, ppid=ppid, name=name, exe=_link(f"/proc/{p.pid}/exe"), cmdline=cmdline,
        cwd=_link(f"/proc/{p.pid}/cwd"), root=_link(f"/proc/{p.pid}/root"), state=state, started=started,
        uids=[int(x) for x in status.get("Uid", "").split()], gids=[int(x) for x in status.get("Gid", "").split()],
        user=user, threads=int(status.get("Threads", "0")),
        ctx_voluntary=int(status.get("voluntary_ctxt_switches", "0")),
        ctx_involuntary=int(status.get("nonvoluntary_ctxt_switches", "0")),
        cpu_user=times.user, cpu_system=times.system, nice=nice, ionice=io_text, affinity=affinity,
        rss=mem.rss, vms=mem.vms, swap=kib_value(status.get("VmSwap", "0 kB")),
        read_bytes=int(io["read_bytes"]) if "read_bytes" in io else None,
        write_bytes=int(io["write_bytes"]) if "write_bytes" in io else None,
        fds=len(fd_names) if fd_names or os.path.isdir(f"/proc/{p.pid}/fd") else None,
        cgroup=_cgroup(p.pid),
        namespaces={ns: _link(f"/proc/{p.pid}/ns/{ns}") for ns in listdir(f"/proc/{p.pid}/ns")},
        oom_score=_int_file(f"/proc/{p.pid}/oom_score"), oom_score_adj=_int_file(f"/proc/{p.pid}/oom_score_adj"),
        seccomp=SECCOMP.get(status.get("Seccomp", ""), status.get("Seccomp", "")),
        no_new_privs=status.get("NoNewPrivs") == "1",
        capabilities=decode_caps(status["CapEff"]) if "CapEff" in status else [],
    )  # fmt: skip


@action("proc.info", risk=Risk.READ, timeout=15)
async def info(ctx: ActionContext, p: Params) -> ProcInfo:
    """Identity, users, state, CPU and memory use, I/O, priorities, cgroup, namespaces, OOM and capabilities of ``pid``."""
    return collect(p.pid)
