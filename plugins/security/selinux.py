"""Report SELinux status: runtime mode, configured mode, policy, and recent denials.

``sec.selinux`` reads the kernel's selinuxfs (``/sys/fs/selinux``) for the
runtime state — enabled, enforcing or permissive, policy version, MLS,
how unknown classes are handled — and ``/etc/selinux/config`` for the mode
and policy the host boots with, and flags a mismatch between the two (a
``setenforce 0`` someone forgot). It counts AVC denials in the last part of
the audit log and can list the policy booleans. A host without SELinux gets
``enabled: false`` rather than an error. It only reads.
"""

from __future__ import annotations

import os

import msgspec

from agent_core import ActionContext, Plugin, Risk, abs_path, action
from plugins._fs import read_last_lines

PLUGIN = Plugin("sec.selinux", domain="security")


class SelinuxParams(msgspec.Struct, forbid_unknown_fields=True):
    config: str = "/etc/selinux/config"
    selinuxfs: str = "/sys/fs/selinux"
    audit_log: str = "/var/log/audit/audit.log"
    booleans: bool = False


class SelinuxStatus(msgspec.Struct):
    supported: bool
    enabled: bool
    mode: str
    config_mode: str
    config_policy: str
    mismatch: bool
    policy_version: int | None
    mls: bool | None
    deny_unknown: bool | None
    denials_recent: int | None
    booleans: dict[str, bool] | None = None


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:
        return None


def read_config(path: str) -> dict[str, str]:
    """``SELINUX=`` and ``SELINUXTYPE=`` (and any other key) from the config file."""
    out: dict[str, str] = {}
    text = _read(path)
    for line in (text or "").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            out[key.strip().upper()] = value.strip().strip('"').lower()
    return out


def _booleans(fs: str) -> dict[str, bool]:
    out: dict[str, bool] = {}
    base = os.path.join(fs, "booleans")
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return out
    for name in names:
        raw = _read(os.path.join(base, name))
        if raw:
            out[name] = raw.split()[0] == "1"  # "current pending"
    return out


def _denials(path: str) -> int | None:
    try:
        lines, _, _ = read_last_lines(path, 1_000_000, 8 * 1024 * 1024)
    except OSError:
        return None
    return sum(1 for x in lines if "type=AVC" in x and "denied" in x)


def _status(p: SelinuxParams) -> SelinuxStatus:
    fs = p.selinuxfs
    enforce = _read(os.path.join(fs, "enforce"))
    conf = read_config(p.config)
    enabled = enforce is not None
    mode = ("enforcing" if enforce == "1" else "permissive") if enabled else "disabled"
    config_mode = conf.get("SELINUX", "")
    policyvers = _read(os.path.join(fs, "policyvers"))
    mls = _read(os.path.join(fs, "mls"))
    deny = _read(os.path.join(fs, "deny_unknown"))
    return SelinuxStatus(
        supported=enabled or bool(conf) or os.path.isdir(fs),
        enabled=enabled,
        mode=mode,
        config_mode=config_mode,
        config_policy=conf.get("SELINUXTYPE", ""),
        # "disabled" in the config only takes effect at boot; anything else should match now.
        mismatch=bool(config_mode) and config_mode != mode,
        policy_version=int(policyvers) if policyvers and policyvers.isdigit() else None,
        mls=(mls == "1") if mls is not None else None,
        deny_unknown=(deny == "1") if deny is not None else None,
        denials_recent=_denials(p.audit_log) if enabled else None,
        booleans=_booleans(fs) if p.booleans and enabled else None,
    )


@action("sec.selinux", risk=Risk.READ, timeout=30)
async def selinux(ctx: ActionContext, p: SelinuxParams) -> SelinuxStatus:
    """SELinux runtime and configured mode, policy, mismatch and recent AVC denials."""
    for field in ("config", "selinuxfs", "audit_log"):
        abs_path(getattr(p, field), field)
    return _status(p)
