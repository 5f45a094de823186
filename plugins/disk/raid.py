"""Linux software RAID (md): arrays, member disks, degraded state and rebuild progress.

``disk.raid`` parses ``/proc/mdstat`` and adds the per-array sysfs state
(``/sys/block/mdX/md``): for each array its level, state (active, inactive,
read-only), size, member devices with their role and flags (failed, spare,
write-mostly, replacement), how many members are up out of how many are
expected (``[4/3] [UUU_]``), the running sync action (resync, recovery,
reshape, check) with percent, speed and estimated finish, and the mismatch
count of the last check. ``degraded`` lists every array missing a member.
Unavailable where the md driver is not loaded. Reads only.
"""

from __future__ import annotations

import re

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import read, read_int

MDSTAT = "/proc/mdstat"
PLUGIN = Plugin("disk.raid", domain="disk", requires_files=[MDSTAT])

_HEAD = re.compile(r"^(md\S*) : (\S+)((?: \([^)]*\))*)\s*(.*)$")
_MEMBER = re.compile(r"^(\S+?)\[(\d+)\]((?:\([A-Z]\))*)$")
_STATUS = re.compile(r"\[(\d+)/(\d+)\]\s+\[([U_]+)\]")
_PROGRESS = re.compile(r"(resync|recovery|reshape|check|repair)\s*=\s*([\d.]+)%.*?finish=([\d.]+min).*?speed=(\d+K/sec)")
_PENDING = re.compile(r"(resync|recovery|reshape|check|repair)=(DELAYED|PENDING)")
FLAGS = {"F": "failed", "S": "spare", "W": "write-mostly", "R": "replacement", "J": "journal"}


class Member(msgspec.Struct):
    device: str
    role: int
    flags: list[str]


class Array(msgspec.Struct):
    name: str
    state: str
    read_only: bool
    level: str
    members: list[Member]
    blocks: int
    expected: int | None
    working: int | None
    status: str
    degraded: bool
    sync_action: str
    sync_percent: float | None
    sync_finish: str
    sync_speed: str
    array_state: str = ""
    mismatch_cnt: int | None = None


class Raid(msgspec.Struct):
    personalities: list[str]
    arrays: list[Array]
    degraded: list[str]
    syncing: list[str]


def parse_mdstat(text: str) -> tuple[list[str], list[Array]]:
    """Parse ``/proc/mdstat`` into the personalities line and one :class:`Array` per md device."""
    personalities: list[str] = []
    arrays: list[Array] = []
    current: Array | None = None
    for line in text.splitlines():
        if line.startswith("Personalities"):
            personalities = re.findall(r"\[(\w+)\]", line)
            continue
        m = _HEAD.match(line)
        if m:
            name, state, paren, rest = m.groups()
            words = rest.split()
            level = words[0] if words and not _MEMBER.match(words[0]) else ""
            members = []
            for token in words[1 if level else 0 :]:
                mm = _MEMBER.match(token)
                if mm:
                    flags = [FLAGS.get(f, f) for f in re.findall(r"\(([A-Z])\)", mm.group(3))]
                    members.append(Member(device=mm.group(1), role=int(mm.group(2)), flags=flags))
            current = Array(
                name=name, state=state, read_only="read-only" in paren, level=level, members=members, blocks=0,
                expected=None, working=None, status="", degraded=False, sync_action="", sync_percent=None,
                sync_finish="", sync_speed="",
            )  # fmt: skip
            arrays.append(current)
            continue
        if current is None or not line.startswith((" ", "\t")):
            current = None if not line.strip() else current
            continue
        blocks = re.match(r"\s+(\d+) blocks", line)
        if blocks:
            current.blocks = int(blocks.group(1))
        st = _STATUS.search(line)
        if st:
            current.expected, current.working, current.status = int(st.group(1)), int(st.group(2)), st.group(3)
            current.degraded = "_" in st.group(3)
        prog = _PROGRESS.search(line)
        if prog:
            current.sync_action, current.sync_percent = prog.group(1), float(prog.group(2))
            current.sync_finish, current.sync_speed = prog.group(3), prog.group(4)
        pend = _PENDING.search(line)
        if pend:
            current.sync_action = f"{pend.group(1)} {pend.group(2).lower()}"
    return personalities, arrays


@action("disk.raid", risk=Risk.READ, timeout=10)
async def raid(ctx: ActionContext, p: NoParams) -> Raid:
    """md arrays with level, members and their flags, degraded state, sync progress and mismatch count."""
    personalities, arrays = parse_mdstat(read(MDSTAT) or "")
    for a in arrays:
        md = f"/sys/block/{a.name}/md"
        a.array_state = read(f"{md}/array_state") or ""
        a.mismatch_cnt = read_int(f"{md}/mismatch_cnt")
        if not a.sync_action:
            action_now = read(f"{md}/sync_action") or ""
            a.sync_action = "" if action_now in ("idle", "") else action_now
    return Raid(
        personalities=personalities,
        arrays=arrays,
        degraded=[a.name for a in arrays if a.degraded or any("failed" in m.flags for m in a.members)],
        syncing=[a.name for a in arrays if a.sync_action],
    )
