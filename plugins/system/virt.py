"""Is this a virtual machine, a container, or bare metal? With the evidence.

``sys.virt`` combines independent signals and lists each one it found: the CPU
``hypervisor`` flag, DMI vendor and product strings, ``/sys/hypervisor``,
paravirtual PCI vendors (virtio, VMware, Hyper-V, Xen), container markers
(``/.dockerenv``, ``/run/.containerenv``, ``container=`` in PID 1's
environment, cgroup paths, WSL's kernel string). Where
``systemd-detect-virt`` is installed its verdict is reported beside ours.
Reads only.
"""

from __future__ import annotations

import os
import shutil

import msgspec

from agent_core import ActionContext, NoParams, Plugin, Risk, action
from agent_core.procfs import listdir, read

PLUGIN = Plugin("sys.virt", domain="system")

DMI_VENDORS = {
    "qemu": "qemu", "kvm": "kvm", "vmware": "vmware", "virtualbox": "oracle", "innotek": "oracle",
    "xen": "xen", "microsoft corporation": "microsoft", "amazon ec2": "amazon", "google": "google",
    "bochs": "bochs", "parallels": "parallels", "bhyve": "bhyve", "openstack": "kvm", "alibaba": "alibaba",
}  # fmt: skip
PCI_VENDORS = {"0x1af4": "kvm", "0x15ad": "vmware", "0x1414": "microsoft", "0x5853": "xen", "0x80ee": "oracle"}
CGROUP_MARKERS = {"docker": "docker", "kubepods": "kubernetes", "lxc": "lxc", "libpod": "podman", "machine.slice": "systemd-nspawn"}


class Virt(msgspec.Struct):
    kind: str
    vm: str
    container: str
    evidence: list[str]
    detect_virt: dict[str, str] = {}


def _vm_signals() -> tuple[str, list[str]]:
    evidence: list[str] = []
    vm = ""
    flags = next((line for line in (read("/proc/cpuinfo") or "").splitlines() if line.startswith("flags")), "")
    if " hypervisor" in flags:
        evidence.append("cpu flag: hypervisor")
        vm = "unknown"
    for field in ("sys_vendor", "product_name", "bios_vendor", "board_vendor"):
        value = (read(f"/sys/class/dmi/id/{field}") or "").lower()
        for marker, name in DMI_VENDORS.items():
            if marker in value:
                evidence.append(f"dmi {field}: {value}")
                vm = name
                break
    hv = read("/sys/hypervisor/type")
    if hv:
        evidence.append(f"/sys/hypervisor/type: {hv}")
        vm = hv
    vendors = {read(f"/sys/bus/pci/devices/{dev}/vendor") for dev in listdir("/sys/bus/pci/devices")}
    for vendor, name in PCI_VENDORS.items():
        if vendor in vendors:
            evidence.append(f"pci vendor {vendor} ({name})")
            if vm in ("", "unknown"):
                vm = name
    if "microsoft" in (read("/proc/sys/kernel/osrelease") or "").lower():
        evidence.append("kernel release mentions microsoft (WSL)")
        vm = "wsl"
    return vm, evidence


def _container_signals() -> tuple[str, list[str]]:
    evidence: list[str] = []
    container = ""
    for path, name in (("/.dockerenv", "docker"), ("/run/.containerenv", "podman")):
        if os.path.exists(path):
            evidence.append(f"{path} exists")
            container = name
    try:
        with open("/proc/1/environ", "rb") as fh:
            env = dict(
                item.split(b"=", 1) for item in fh.read().split(b"\0") if b"=" in item
            )
        if b"container" in env:
            container = env[b"container"].decode(errors="replace")
            evidence.append(f"pid 1 environment: container={container}")
    except OSError:
        pass
    for line in (read("/proc/1/cgroup") or "").splitlines():
        path = line.split(":", 2)[-1]
        for marker, name in CGROUP_MARKERS.items():
            if marker in path:
                evidence.append(f"pid 1 cgroup: {path}")
                container = container or name
                break
    if os.path.exists("/run/secrets/kubernetes.io") or os.environ.get("KUBERNETES_SERVICE_HOST"):
        evidence.append("kubernetes service account or environment")
        container = container or "kubernetes"
    return container, evidence


@action("sys.virt", risk=Risk.READ, timeout=15)
async def virt(ctx: ActionContext, p: NoParams) -> Virt:
    """Virtualisation and containerisation verdict (vm, container, both, none) with every signal seen."""
    vm, vm_evidence = _vm_signals()
    container, ct_evidence = _container_signals()
    kind = "+".join(k for k, v in (("vm", vm), ("container", container)) if v) or "none"
    detect: dict[str, str] = {}
    if shutil.which("systemd-detect-virt"):
        for flag in ("--vm", "--container"):
            res = await ctx.run(["systemd-detect-virt", flag])
            detect[flag.lstrip("-")] = res.stdout.strip() or "none"
    return Virt(kind=kind, vm=vm, container=container, evidence=vm_evidence + ct_evidence, detect_virt=detect)
