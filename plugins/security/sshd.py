"""Audit the SSH server configuration against hardening rules.

``sec.sshd`` gets the effective sshd settings — from ``sshd -T`` when the
server is installed (the authoritative answer, defaults included), otherwise
by parsing ``sshd_config`` and its ``Include`` files the way sshd does (first
value wins, keywords case-insensitive, ``Match`` blocks kept apart) over
OpenSSH's defaults. It then checks them: root login, password and empty
passwords, host-based auth, user environment, strict modes, X11, auth tries,
login grace time, and weak ciphers, MACs and key exchanges. Each finding has a
severity and a fix. A host without sshd or its config answers A003. It only
reads.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
from typing import Literal

import msgspec

from agent_core import ActionContext, Plugin, Risk, Unavailable, abs_path, action
from plugins._fs import fs_errors

PLUGIN = Plugin("sec.sshd", domain="security")

DEFAULT_CONFIG = "/etc/ssh/sshd_config"

# OpenSSH 9.x defaults for the keys the rules look at (sshd_config(5)).
DEFAULTS = {
    "permitrootlogin": "prohibit-password",
    "passwordauthentication": "yes",
    "permitemptypasswords": "no",
    "pubkeyauthentication": "yes",
    "kbdinteractiveauthentication": "yes",
    "hostbasedauthentication": "no",
    "ignorerhosts": "yes",
    "permituserenvironment": "no",
    "strictmodes": "yes",
    "x11forwarding": "no",
    "maxauthtries": "6",
    "logingracetime": "120",
    "loglevel": "INFO",
    "allowtcpforwarding": "yes",
    "allowagentforwarding": "yes",
    "clientaliveinterval": "0",
    "usedns": "no",
}

WEAK = {
    "ciphers": ("cbc", "arcfour", "3des", "blowfish", "cast128", "rijndael"),
    "macs": ("md5", "hmac-sha1", "umac-64", "ripemd", "-96"),
    "kexalgorithms": ("diffie-hellman-group1-sha1", "diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1", "gss-group1"),
}

Severity = Literal["high", "medium", "low", "info"]

# "Keyword value" or "Keyword=value" (blanks allowed around "=").
_KEYWORD = re.compile(r"^([A-Za-z0-9]+)(?:\s*=\s*|\s+)(.*)$")


class SshdParams(msgspec.Struct, forbid_unknown_fields=True):
    config: str | None = None
    use_sshd: bool = True


class Finding(msgspec.Struct):
    key: str
    value: str
    severity: str
    message: str


class SshdAudit(msgspec.Struct):
    source: str
    settings: dict[str, str]
    match_blocks: list[str]
    findings: list[Finding]
    counts: dict[str, int]


def _seconds(value: str) -> int:
    """sshd time values: ``120``, ``2m``, ``1h30m``."""
    total, num = 0, ""
    for ch in value.lower():
        if ch.isdigit():
            num += ch
        else:
            total += int(num or 0) * {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}.get(ch, 1)
            num = ""
    return total + int(num or 0)


def parse_config(path: str, settings: dict[str, str] | None = None, matches: list[str] | None = None,
                 depth: int = 0) -> tuple[dict[str, str], list[str]]:
    """Global settings of an sshd_config (first value wins) and its ``Match`` lines."""
    settings = {} if settings is None else settings
    matches = [] if matches is None else matches
    if depth > 16:
        return settings, matches
    with open(path, errors="replace") as fh:
        lines = fh.read().splitlines()
    in_match = False
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _KEYWORD.match(line)
        key, rest = (m.group(1).lower(), m.group(2).strip()) if m else (line.lower(), "")
        if key == "match":
            in_match = True
            matches.append(rest)
            continue
        if key == "include":
            for pattern in shlex.split(rest):
                full = pattern if pattern.startswith("/") else os.path.join("/etc/ssh", pattern)
                for inc in sorted(glob.glob(full)):
                    parse_config(inc, settings, matches, depth + 1)
            continue
        if in_match:
            continue  # conditional: not the global value
        settings.setdefault(key, rest)
    return settings, matches


def parse_sshd_t(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key:
            # sshd -T prints repeated keys (hostkey, listenaddress) once per value.
            out[key] = f"{out[key]},{value}" if key in out and key in ("hostkey", "listenaddress", "port") else value
    return out


def audit(s: dict[str, str]) -> list[Finding]:
    """Hardening findings for effective settings ``s`` (keys lower-case)."""
    out: list[Finding] = []

    def add(key: str, severity: str, message: str) -> None:
        out.append(Finding(key=key, value=s.get(key, ""), severity=severity, message=message))

    root = s.get("permitrootlogin", "")
    if root == "yes":
        add("permitrootlogin", "high", "root may log in with a password; set PermitRootLogin prohibit-password or no")
    elif root in ("prohibit-password", "without-password", "forced-commands-only"):
        add("permitrootlogin", "info", "root may log in with a key; consider PermitRootLogin no and sudo")
    if s.get("permitemptypasswords") == "yes":
        add("permitemptypasswords", "high", "accounts with empty passwords may log in; set PermitEmptyPasswords no")
    if s.get("passwordauthentication") == "yes":
        add("passwordauthentication", "medium", "passwords are accepted (brute-forceable); prefer keys: PasswordAuthentication no")
    if s.get("hostbasedauthentication") == "yes":
        add("hostbasedauthentication", "medium", "host-based trust is on; set HostbasedAuthentication no")
    if s.get("ignorerhosts") == "no":
        add("ignorerhosts", "medium", ".rhosts files are honoured; set IgnoreRhosts yes")
    if s.get("permituserenvironment", "no") != "no":
        add("permituserenvironment", "medium", "users can set environment for sshd (LD_PRELOAD tricks); set PermitUserEnvironment no")
    if s.get("strictmodes") == "no":
        add("strictmodes", "medium", "home/key file permissions are not checked; set StrictModes yes")
    if s.get("protocol", "2").strip() != "2":
        add("protocol", "high", "SSH protocol 1 is enabled; use Protocol 2 only")
    if s.get("x11forwarding") == "yes":
        add("x11forwarding", "low", "X11 forwarding is on; turn it off unless needed")
    try:
        if int(s.get("maxauthtries", "6")) > 4:
            add("maxauthtries", "low", "more than 4 authentication tries per connection; lower MaxAuthTries")
    except ValueError:
        add("maxauthtries", "low", "MaxAuthTries is not a number")
    if _seconds(s.get("logingracetime", "120")) > 60 or s.get("logingracetime") == "0":
        add("logingracetime", "low", "unauthenticated connections may linger; LoginGraceTime 30 or 60")
    if s.get("loglevel", "INFO").upper() in ("QUIET", "FATAL", "ERROR"):
        add("loglevel", "low", "too little is logged to audit logins; LogLevel INFO or VERBOSE")
    for key, bad_parts in WEAK.items():
        value = s.get(key, "")
        weak = [alg for alg in value.split(",") if alg and any(b in alg.lower() for b in bad_parts)]
        if weak:
            add(key, "medium", f"weak algorithms allowed: {', '.join(weak)}")
    if not any(k in s for k in ("allowusers", "allowgroups")):
        add("allowusers", "info", "no AllowUsers/AllowGroups: every account with a shell may try to log in")
    return out


def _from_file(config: str | None) -> tuple[str, dict[str, str], list[str]]:
    path = config or DEFAULT_CONFIG
    if config is None and not os.path.exists(path):
        raise Unavailable(f"no sshd here: neither the sshd program nor {DEFAULT_CONFIG} exists")
    with fs_errors(path):
        settings, matches = parse_config(path)
    return path, {**DEFAULTS, **settings}, matches


def _sshd_program() -> str | None:
    # sshd lives in sbin, which is not always on the agent's PATH.
    return shutil.which("sshd") or shutil.which("sshd", path="/usr/sbin:/usr/local/sbin:/sbin")


async def _effective(ctx: ActionContext, p: SshdParams) -> tuple[str, dict[str, str], list[str]]:
    config = abs_path(p.config, "config") if p.config else None
    sshd = _sshd_program()
    if p.use_sshd and sshd:
        argv = [sshd, "-T"] + (["-f", config] if config else [])
        res = await ctx.run(argv)
        if res.exit_code == 0 and res.stdout.strip():
            return f"{sshd} -T", parse_sshd_t(res.stdout), []
        ctx.log.info("sshd -T failed (%s); parsing the file instead", res.stderr.strip()[:200])
    return _from_file(config)


@action("sec.sshd", risk=Risk.READ, timeout=30)
async def sshd(ctx: ActionContext, p: SshdParams) -> SshdAudit:
    """Effective sshd settings and hardening findings with severity and fix."""
    source, settings, matches = await _effective(ctx, p)
    findings = audit(settings)
    order = {"high": 0, "medium": 1, "low": 2, "info": 3}
    findings.sort(key=lambda f: (order[f.severity], f.key))
    counts = {sev: sum(1 for f in findings if f.severity == sev) for sev in order}
    return SshdAudit(source=source, settings=dict(sorted(settings.items())), match_blocks=matches, findings=findings, counts=counts)
