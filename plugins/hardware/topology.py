"""Where each logical CPU sits: socket, die, core, SMT sibling and NUMA node.

``hw.topology`` maps every logical CPU from ``/sys/devices/system/cpu``: its
package (socket), die, core and cluster ids, its hyper-thread siblings, its
NUMA node, whether it is online, isolated (``isolcpus``) or tickless
(``nohz_full``), and its current frequency. The summary gives SMT state and
control (``on``, ``off``, ``forceoff``, ``notsupported``) so an operator can
pin workloads or check that SMT was really disabled. Reads only.
"""

from __future__ import annotations

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import parse_cpulist, read
from plugins.hardware._common import CPU_SYSFS, cpu_ids, numa_node_of, online_cpus, topology_value

PLUGIN = Plugin("hw.topology", domain="hardware", requires_files=[CPU_SYSFS])


class LogicalCpu(msgspec.Struct):
    cpu: int
    online: bool
    package: int | None
    die: int | None
    core: int | None
    cluster: int | None
    siblings: list[int]
    node: int | None
    isolated: bool
    nohz_full: bool
    mhz: float | None


class Topology(msgspec.Struct):
    cpus: list[LogicalCpu]
    packages: int
    cores: int
    threads_per_core: int
    smt_active: bool | None
    smt_control: str
    isolated: list[int]
    nohz_full: list[int]
    offline: list[int]


@action("hw.topology", risk=Risk.READ, timeout=10)
async def topology(ctx: ActionContext, p: NoParams) -> Topology:
    """Per logical CPU: package, die, core, SMT siblings, NUMA node, online/isolated state and frequency."""
    online = set(online_cpus())
    isolated = parse_cpulist(read(f"{CPU_SYSFS}/isolated"))
    nohz_text = (read(f"{CPU_SYSFS}/nohz_full") or "").strip()
    nohz = parse_cpulist(nohz_text) if nohz_text not in ("", "(null)") else []
    cpus = []
    for cpu in cpu_ids():
        freq = read(f"{CPU_SYSFS}/cpu{cpu}/cpufreq/scaling_cur_freq")
        cpus.append(
            LogicalCpu(
                cpu=cpu,
                online=cpu in online,
                package=topology_value(cpu, "physical_package_id"),
                die=topology_value(cpu, "die_id"),
                core=topology_value(cpu, "core_id"),
                cluster=topology_value(cpu, "cluster_id"),
                siblings=parse_cpulist(read(f"{CPU_SYSFS}/cpu{cpu}/topology/thread_siblings_list")),
                node=numa_node_of(cpu),
                isolated=cpu in isolated,
                nohz_full=cpu in nohz,
                mhz=round(int(freq) / 1000.0, 1) if freq and freq.isdigit() else None,
            )
        )
    up = [c for c in cpus if c.online]
    cores = {(c.package, c.core) for c in up}
    smt = read(f"{CPU_SYSFS}/smt/active")
    return Topology(
        cpus=cpus,
        packages=len({c.package for c in up}),
        cores=len(cores),
        threads_per_core=max((len(c.siblings) for c in up), default=1),
        smt_active=(smt == "1") if smt is not None else None,
        smt_control=read(f"{CPU_SYSFS}/smt/control") or "",
        isolated=isolated,
        nohz_full=nohz,
        offline=[c.cpu for c in cpus if not c.online],
    )
