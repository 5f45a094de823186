"""Policy: what an account may do, decided before anything is dispatched.

For every job, in order:

1. the action is resolved against what the targets declare
   (:mod:`center._actions`): unknown everywhere is ``C023``, params that do
   not match the declaration are ``C024``;
2. the action must be in the account's scope, and a ``danger`` action must be
   named exactly (or the scope allows danger) (``C009``); every target must be
   in the account's host scope (``C009``), and no more of them than
   ``max_hosts`` (``C013``);
3. with command mapping on, the command must be one of the account's private
   aliases, which the center translates, and no other code-carrying param may
   be set (``C014``);
4. **every param the declaration marks as carrying code** is analysed as the
   host will execute it: the interpreter, the command after ``-c``, the script
   body with its arguments as positional parameters, standard input, the
   environment (``BASH_ENV``, ``LD_PRELOAD`` …); a package must be signed by a
   trusted publisher (``C025``); a path written to a place where files are
   code (cron, sudoers, systemd units, ``~/.ssh`` …) needs approval; code the
   center cannot read needs approval. Rules answer ``block`` (``C010``),
   ``approve`` (held for a second person, ``C011``) or ``warn``;
5. action rules (``action_rules.toml``) add verdicts by action and params;
6. a job on more hosts than the account's ``approval_hosts`` needs approval.

Admins skip 2 but nothing else: a stolen admin key still cannot wipe the
fleet without a second person.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import posixpath
import secrets
import shlex
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transports import CodeRole, ErrorCode, StarlingError

from ._accounts import Account
from ._actions import ActionBook, Effective
from ._pathscope import check_paths
from ._renamed import matches_action, warn_renamed
from ._requests import JobRequest
from ._rows import HostRow
from ._store import Store, accounts
from .security import RuleSet, default_rules

__all__ = ["Admission", "Policy", "make_mapping"]

_SEVERITY = {"allow": 0, "warn": 1, "approve": 2, "block": 3}
_SCRIPT_PATH = "/tmp/starling-script"
ACTION_RULES = Path(__file__).with_name("action_rules.toml")

#: Where a written file is code that runs (or decides who gets in).
CODE_PATHS = (
    "/etc/cron*", "/etc/cron*/*", "/var/spool/cron/*", "/var/spool/cron/*/*", "/etc/anacrontab",
    "/etc/sudoers", "/etc/sudoers.d/*", "/etc/ld.so.preload", "/etc/ld.so.conf", "/etc/ld.so.conf.d/*",
    "/etc/profile", "/etc/profile.d/*", "/etc/bash.bashrc", "/etc/environment", "/etc/zsh/*",
    "/etc/passwd", "/etc/shadow", "/etc/group", "/etc/gshadow", "/etc/pam.d/*", "/etc/security/*",
    "/etc/ssh/*", "/root/*", "/root/.*/*", "/home/*/.ssh/*", "/home/*/.bashrc", "/home/*/.profile",
    "/etc/systemd/*", "/etc/systemd/*/*", "/etc/systemd/*/*/*", "/lib/systemd/*", "/usr/lib/systemd/*",
    "/etc/init.d/*", "/etc/rc*.d/*", "/etc/rc.local", "/etc/udev/rules.d/*", "/etc/modprobe.d/*",
    "/etc/modules-load.d/*", "/etc/apt/sources.list", "/etc/apt/sources.list.d/*", "/etc/apt/apt.conf.d/*",
    "/etc/yum.repos.d/*", "/etc/starling/*", "/var/lib/starling/*", "/var/lib/starling/*/*",
    "/bin/*", "/sbin/*", "/usr/bin/*", "/usr/sbin/*", "/usr/local/bin/*", "/usr/local/sbin/*",
    "/lib/*", "/lib64/*", "/usr/lib/*", "/usr/lib64/*", "/usr/libexec/*", "/boot/*", "/etc/fstab",
)


@dataclass
class Admission:
    hold: bool = False
    reasons: list[str] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    risk: dict[str, Any] | None = None
    #: The action as the policy read it (timeout default, streaming).
    effective: Effective | None = None
    #: Targets that lack the action (their tasks fail with A001 at once).
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ActionRule:
    id: str
    action: str
    verdict: str
    message: str
    when: dict[str, list[str]]

    def matches(self, action: str, params: dict[str, Any]) -> bool:
        if not matches_action(self.action, action):
            return False
        for name, globs in self.when.items():
            value = params.get(name)
            values = value if isinstance(value, list) else [value]
            if not any(v is not None and any(fnmatch.fnmatchcase(str(v), g) for g in globs) for v in values):
                return False
        return True


def load_action_rules(paths: Sequence[str | Path] = ()) -> list[ActionRule]:
    out = []
    for path in [ACTION_RULES, *paths]:
        try:
            doc = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise StarlingError(f"action rules {path}: {exc}", code=ErrorCode.C001) from exc
        for i, raw in enumerate(doc.get("rule", [])):
            verdict = raw.get("verdict")
            if verdict not in ("block", "approve", "warn") or not isinstance(raw.get("action"), str):
                raise StarlingError(f"action rules {path}: rule {i + 1} needs an action and a verdict", code=ErrorCode.C001)
            when = {k: [str(g) for g in (v if isinstance(v, list) else [v])] for k, v in (raw.get("when") or {}).items()}
            rule_id = raw.get("id", f"rule-{i + 1}")
            # An old action name keeps protecting the renamed action (matches_action), with a warning.
            warn_renamed([raw["action"]], f"action rules {path}: rule {rule_id!r}")
            out.append(ActionRule(rule_id, raw["action"], verdict, raw.get("message", ""), when))
    return out


def make_mapping(store: Store, key_id: str, commands: list[str]) -> dict[str, str]:
    """Give an account a private alias per command; returns ``{alias: command}``.
    The table is shown once to the administrator and kept by the center."""
    table = {secrets.token_hex(3): cmd for cmd in commands}
    with store.engine.begin() as conn:
        n = conn.execute(accounts.update().where(accounts.c.key_id == key_id).values(mapping=json.dumps(table))).rowcount
    if n != 1:
        raise StarlingError(f"no account {key_id!r}", code=ErrorCode.C001)
    return table


class Policy:
    """Decides on jobs. Thread-safe and synchronous (runs in a worker thread).

    :param publishers: Ed25519 public keys (raw bytes) whose signature on a plugin
        package the center trusts.
    """

    def __init__(
        self,
        rules: RuleSet | None = None,
        *,
        action_rules: Sequence[str | Path] = (),
        publishers: Sequence[bytes] = (),
        book: ActionBook | None = None,
    ) -> None:
        self.rules = rules or default_rules()
        self.action_rules = load_action_rules(action_rules)
        self.publishers = list(publishers)
        self.book = book or ActionBook()

    def warm(self) -> None:
        """Load the command checker (its shell grammar tables take a second to
        build) before the first job needs it. Blocking: call it in a thread."""
        from .security import check_exec

        check_exec(["/bin/sh", "-c", "echo warm"], self.rules)

    # -- the steps ------------------------------------------------------------------------

    def admit(self, account: Account, req: JobRequest, targets: list[HostRow]) -> Admission:
        resolution = self.book.resolve(req.action, req.params, targets)
        eff = resolution.effective
        adm = Admission(params=resolution.params, effective=eff, missing=resolution.missing)
        if not account.admin:
            self._scope(account, eff, targets)
            check_paths(account.scope.paths, account.key_id, eff.name, adm.params)
        if account.mapping:
            adm.params = self._translate(account, eff, adm.params)
        verdicts = self._analyse(eff, adm.params)
        verdicts += [
            (r.verdict, f"action:{r.id}", r.message, req.action)
            for r in self.action_rules if r.matches(req.action, adm.params)
        ]
        verdicts.sort(key=lambda v: -_SEVERITY[v[0]])
        if verdicts:
            top = verdicts[0]
            adm.risk = {"verdict": top[0], "rule": top[1], "message": top[2], "fragment": top[3][:200],
                        "findings": [{"verdict": v, "rule": r, "message": m, "fragment": f[:200]} for v, r, m, f in verdicts]}
        for verdict, rule, message, fragment in verdicts:
            if verdict == "block":
                raise StarlingError(f"blocked by rule {rule}: {message} — {fragment[:200]}", code=ErrorCode.C010)
            if verdict == "approve":
                adm.hold = True
                adm.reasons.append(f"rule {rule}: {message}")
            elif verdict == "warn":
                adm.warnings.append({"rule": rule, "message": message, "fragment": fragment[:200]})
        threshold = account.scope.approval_hosts if not account.admin else 0
        if threshold and len(targets) > threshold:
            adm.hold = True
            adm.reasons.append(f"{len(targets)} hosts is above this account's approval threshold of {threshold}")
        return adm

    def _scope(self, account: Account, eff: Effective, targets: list[HostRow]) -> None:
        sc = account.scope
        if not sc.allows_action(eff.name, eff.risk):
            why = " (a danger action must be named exactly in the scope)" if eff.risk == "danger" and sc.actions else ""
            raise StarlingError(f"account {account.key_id} may not call {eff.name}{why}", code=ErrorCode.C009)
        outside = [t.hostname or t.id for t in targets if not sc.allows_host(t)]
        if outside:
            raise StarlingError(
                f"{len(outside)} target(s) outside the account's scope: {', '.join(outside[:5])}", code=ErrorCode.C009
            )
        if sc.max_hosts and len(targets) > sc.max_hosts:
            raise StarlingError(f"{len(targets)} hosts exceed this account's limit of {sc.max_hosts}", code=ErrorCode.C013)

    @staticmethod
    def _translate(account: Account, eff: Effective, params: dict[str, Any]) -> dict[str, Any]:
        """Command mapping: the one command param must be an alias; nothing else may carry code."""
        assert account.mapping is not None
        commands = [f for f, r in eff.code.items() if r is CodeRole.COMMAND]
        others = [f for f, r in eff.code.items() if r is not CodeRole.COMMAND and params.get(f) not in (None, "", [], {}, eff.default(f))]
        if len(commands) != 1 or others:
            raise StarlingError(
                f"this account sends aliases only; {eff.name} takes code in {', '.join(others) or 'no single command'}",
                code=ErrorCode.C014,
            )
        name = commands[0]
        cmd = str(params.get(name, ""))
        if cmd in account.mapping:
            return params | {name: account.mapping[cmd]}
        try:
            words = shlex.split(cmd)
        except ValueError:
            words = []
        if words and words[0] in account.mapping:
            rest = cmd.split(None, 1)[1] if len(cmd.split(None, 1)) > 1 else ""
            return params | {name: f"{account.mapping[words[0]]} {rest}".strip()}
        raise StarlingError("this account must send one of its aliases, not a raw command", code=ErrorCode.C014)

    # -- reading code -------------------------------------------------------------------------

    def _analyse(self, eff: Effective, params: dict[str, Any]) -> list[tuple[str, str, str, str]]:
        """Every code-carrying param, read as the host will run it: ``[(verdict, rule, message, fragment)]``."""
        from .security import check_exec

        roles: dict[CodeRole, list[str]] = {}
        for name, role in eff.code.items():
            roles.setdefault(role, []).append(name)

        def values(role: CodeRole) -> list[Any]:
            out = []
            for name in roles.get(role, []):
                value = params.get(name, eff.default(name))
                if value not in (None, "", [], {}):
                    out.append(value)
            return out

        found: list[tuple[str, str, str, str]] = []
        interpreters = [str(v) for v in values(CodeRole.INTERPRETER)] or ["/bin/sh"]
        commands = [c for v in values(CodeRole.COMMAND) for c in (v if isinstance(v, list) else [v])]
        scripts = [s for v in values(CodeRole.SCRIPT) for s in (v if isinstance(v, list) else [v])]
        args = [str(a) for v in values(CodeRole.ARGS) for a in (v if isinstance(v, list) else [v])]
        stdin = "".join(str(v) for v in values(CodeRole.STDIN)) or None
        env: dict[str, str] = {}
        for v in values(CodeRole.ENV):
            if isinstance(v, dict):
                env.update({str(k): str(x) for k, x in v.items()})
        cwd = params.get("cwd") if isinstance(params.get("cwd"), str) else None

        runs: list[tuple[list[str], dict[str, str]]] = []
        for interp in interpreters:
            words = interp.split() or ["/bin/sh"]
            for cmd in commands:
                runs.append(([*words, "-c", str(cmd), *args], {}))
            for body in scripts:
                runs.append(([*words, _SCRIPT_PATH, *args], {_SCRIPT_PATH: str(body)}))
            if not commands and not scripts and (roles.get(CodeRole.INTERPRETER) or args or stdin is not None or env):
                runs.append(([*words, *args], {}))
        for argv, files in runs:
            v = check_exec(argv, self.rules, stdin=stdin, env=env or None, files=files or None, cwd=cwd)
            if v.verdict != "allow":
                found.append((v.verdict, v.rule or "", v.message, v.fragment or " ".join(argv)[:200]))
        for path in values(CodeRole.PATH):
            for p in path if isinstance(path, list) else [path]:
                why = code_path(str(p))
                if why:
                    found.append(("approve", "write-code-path", why, str(p)))
        for blob in values(CodeRole.OPAQUE):
            found.append(("approve", "opaque-code", f"{eff.name} carries code the center cannot read", str(blob)[:80]))
        for name in roles.get(CodeRole.PACKAGE, []):
            self._check_package(eff, params, name)
        return found

    def _check_package(self, eff: Effective, params: dict[str, Any], name: str) -> None:
        """A package must carry a publisher signature (``signature``, base64
        Ed25519 over the package's SHA-256 hex) by a key the center trusts."""
        import hashlib

        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        blob = params.get(name)
        data = base64.b64decode(blob) if isinstance(blob, str) else bytes(blob or b"")
        signature = params.get("signature") or ""
        if not self.publishers:
            raise StarlingError(f"{eff.name}: no plugin publisher key is trusted by this center (config `plugin_publishers`)", code=ErrorCode.C025)
        try:
            sig = base64.b64decode(signature, validate=True)
        except ValueError:
            sig = b""
        digest = hashlib.sha256(data).hexdigest().encode()
        for key in self.publishers:
            try:
                Ed25519PublicKey.from_public_bytes(key).verify(sig, digest)
                return
            except (InvalidSignature, ValueError):
                continue
        raise StarlingError(f"{eff.name}: the package is not signed by a trusted publisher", code=ErrorCode.C025)


def code_path(path: str) -> str:
    """Why writing ``path`` is running code (or granting access), or ``""``."""
    if not path.startswith("/"):
        return "a relative path: where it lands depends on the working directory"
    norm = posixpath.normpath(path)
    if norm.startswith("//"):
        norm = norm[1:]
    for glob in CODE_PATHS:
        if fnmatch.fnmatchcase(norm, glob):
            return f"{norm} is a file the system runs or trusts ({glob})"
    return ""
