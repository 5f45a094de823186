"""Policy: what an account may do before anything is dispatched.

In order, for every job:

1. the action must match one of the account's action patterns (C009);
2. every target host must be inside the account's scope — IDCs, tags or host
   ids (C009), and there may be no more of them than ``max_hosts`` (C013);
3. with command mapping on, ``cmd.run`` must name one of the account's private
   aliases, which the center translates; raw commands are refused (C014);
4. commands (``cmd.run``, ``cmd.script``) are parsed and matched against the
   high-risk rules: ``block`` refuses (C010), ``approve`` holds the job for a
   second account with the approver flag (C011), ``warn`` lets it run with a
   warning;
5. a job on more hosts than the account's ``approval_hosts`` needs approval too.

Admins skip 1–3 but not 4–5: a stolen admin key still cannot wipe the fleet
without a second person.
"""

from __future__ import annotations

import fnmatch
import json
import secrets
import shlex
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from transports import ErrorCode, StarlingError

from ._center import JobRequest
from ._store import Store, accounts
from .security import RuleSet, check_command, check_script, default_rules


@dataclass(frozen=True)
class Account:
    key_id: str
    name: str = ""
    admin: bool = False
    approver: bool = False
    scopes: dict[str, Any] = field(default_factory=dict)
    mapping: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "name": self.name, "admin": self.admin, "approver": self.approver,
                "scopes": self.scopes, "mapping": bool(self.mapping)}


@dataclass
class Admission:
    hold: bool = False
    reasons: list[str] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    risk: dict[str, Any] | None = None


def load_account(store: Store, key_id: str) -> Account:
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(accounts).where(accounts.c.key_id == key_id)).mappings().first()
    if row is None or row["disabled"]:
        raise StarlingError(f"unknown or disabled account {key_id!r}", code=ErrorCode.C007)
    return Account(
        key_id=row["key_id"], name=row["name"], admin=bool(row["admin"]), approver=bool(row["approver"]),
        scopes=json.loads(row["scopes"] or "{}"), mapping=json.loads(row["mapping"] or "{}"),
    )


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
    def __init__(self, rules: RuleSet | None = None) -> None:
        self.rules = rules or default_rules()

    def _scope(self, account: Account, req: JobRequest, targets: list[dict[str, Any]]) -> None:
        sc = account.scopes
        patterns = sc.get("actions") or ["*"]
        if not any(fnmatch.fnmatchcase(req.action, p) for p in patterns):
            raise StarlingError(f"account {account.key_id} may not call {req.action}", code=ErrorCode.C009)
        idcs, tags, hosts = set(sc.get("idcs", [])), set(sc.get("tags", [])), set(sc.get("hosts", []))
        if idcs or tags or hosts:
            outside = [
                t["hostname"] for t in targets
                if not (t["idc"] in idcs or tags & set(t["tags"]) or t["id"] in hosts or t["hostname"] in hosts)
            ]
            if outside:
                raise StarlingError(
                    f"{len(outside)} target(s) outside the account's scope: {', '.join(outside[:5])}", code=ErrorCode.C009
                )
        from ._pathscope import check_paths

        check_paths(sc, account.key_id, req.action, req.params)
        limit = int(sc.get("max_hosts") or 0)
        if limit and len(targets) > limit:
            raise StarlingError(f"{len(targets)} hosts exceed this account's limit of {limit}", code=ErrorCode.C013)

    @staticmethod
    def _translate(account: Account, params: dict[str, Any]) -> dict[str, Any]:
        cmd = str(params.get("cmd", ""))
        if cmd in account.mapping:
            return params | {"cmd": account.mapping[cmd]}
        try:
            words = shlex.split(cmd)
        except ValueError:
            words = []
        if words and words[0] in account.mapping:
            rest = cmd.split(None, 1)[1] if len(cmd.split(None, 1)) > 1 else ""
            return params | {"cmd": f"{account.mapping[words[0]]} {rest}".strip()}
        raise StarlingError("this account must send one of its aliases, not a raw command", code=ErrorCode.C014)

    def admit(self, account: Account, req: JobRequest, targets: list[dict[str, Any]]) -> Admission:
        adm = Admission(params=dict(req.params))
        if not account.admin:
            self._scope(account, req, targets)
        if account.mapping:
            if req.action == "cmd.script":
                raise StarlingError("scripts are refused while command mapping is on", code=ErrorCode.C014)
            if req.action == "cmd.run":
                adm.params = self._translate(account, adm.params)
        verdict = None
        if req.action == "cmd.run" and isinstance(adm.params.get("cmd"), str):
            verdict = check_command(adm.params["cmd"], self.rules, cwd=adm.params.get("cwd"))
        elif req.action == "cmd.script" and isinstance(adm.params.get("body"), str):
            verdict = check_script(adm.params["body"], str(adm.params.get("interpreter", "")), self.rules)
        if verdict is not None:
            adm.risk = verdict.as_dict()
            if verdict.verdict == "block":
                raise StarlingError(f"blocked by rule {verdict.rule}: {verdict.message} — {verdict.fragment}", code=ErrorCode.C010)
            if verdict.verdict == "approve":
                adm.hold = True
                adm.reasons.append(f"rule {verdict.rule}: {verdict.message}")
            elif verdict.verdict == "warn":
                adm.warnings.append({"rule": verdict.rule, "message": verdict.message, "fragment": verdict.fragment})
        threshold = int(account.scopes.get("approval_hosts") or 0)
        if threshold and len(targets) > threshold:
            adm.hold = True
            adm.reasons.append(f"{len(targets)} hosts is above this account's approval threshold of {threshold}")
        return adm
