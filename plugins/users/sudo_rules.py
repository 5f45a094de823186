"""Who may run what through sudo: the sudoers rules, parsed and summarised.

``user.sudo.rules`` reads ``/etc/sudoers`` and the files it includes
(``@include``, ``@includedir`` and their ``#`` spellings, skipping what sudo
skips) and returns every ``Defaults`` setting, every alias, and every rule
split into users, hosts, run-as users, tags (``NOPASSWD``, ``SETENV``...)
and commands, with the file and line it came from. The summary lists the
principals that may run any command as root, and which of them without a
password, which is the first question of any access review. Reads files only.
"""

from __future__ import annotations

import os
import re

import msgspec

from agent_core import ActionContext, InvalidParams, NotFound, Plugin, Risk, action

PLUGIN = Plugin("user.sudo.rules", domain="users")

_ALIAS = re.compile(r"^(User_Alias|Runas_Alias|Host_Alias|Cmnd_Alias|Cmd_Alias)\s+(.*)$")
_INCLUDE = re.compile(r"^[@#](include|includedir)\s+(.+)$")
_TAGS = (
    "NOPASSWD",
    "PASSWD",
    "NOEXEC",
    "EXEC",
    "SETENV",
    "NOSETENV",
    "LOG_INPUT",
    "NOLOG_INPUT",
    "LOG_OUTPUT",
    "NOLOG_OUTPUT",
    "MAIL",
    "NOMAIL",
    "FOLLOW",
    "NOFOLLOW",
    "INTERCEPT",
    "NOINTERCEPT",
)


class SudoRulesParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str = "/etc/sudoers"


class Default(msgspec.Struct):
    scope: str
    """``""`` for global, else ``:user``, ``@host``, ``>runas`` or ``!command``."""
    setting: str
    file: str
    line: int


class Command(msgspec.Struct):
    command: str
    runas: list[str]
    """Users the command may run as (``ALL``, ``root``, ``www-data``...)."""
    runas_groups: list[str]
    tags: list[str]


class Rule(msgspec.Struct):
    users: list[str]
    hosts: list[str]
    commands: list[Command]
    file: str
    line: int


class Grant(msgspec.Struct):
    principal: str
    """A user, ``%group`` or alias name."""
    nopasswd: bool
    file: str
    line: int


class SudoRules(msgspec.Struct):
    files: list[str]
    defaults: list[Default]
    aliases: dict[str, dict[str, list[str]]]
    rules: list[Rule]
    full_root: list[Grant]
    """Principals that may run ALL commands as root."""


def _split(text: str) -> list[str]:
    """Split on commas that are not escaped or inside quotes/parentheses."""
    out, cur, depth, quoted, i = [], "", 0, False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur += text[i : i + 2]
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif ch == "(" and not quoted:
            depth += 1
        elif ch == ")" and not quoted:
            depth -= 1
        if ch == "," and not quoted and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    if cur.strip():
        out.append(cur.strip())
    return out


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with backslash continuations joined and comments removed, with their first line number."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not buf:
            start = no
            stripped = line.lstrip()
            if (
                stripped.startswith("#")
                and not _INCLUDE.match(stripped)
                and not re.match(r"^#-?\d", stripped)
            ):
                continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        body = buf.strip()
        buf = ""
        if not body.startswith(("#include", "@include")) and "#" in body:
            body = re.sub(r"(?<![\\\w])#(?!-?\d).*$", "", body).strip()
        if body:
            out.append((start, body))
    return out


def parse_spec(body: str, file: str, line: int) -> list[Rule]:
    """``users hosts = (runas) TAGS: cmds [: hosts = ...]`` into rules."""
    lhs, _, rhs = body.partition("=")
    lhs = re.sub(r"\s*,\s*", ",", lhs.strip())
    parts = lhs.split()
    if len(parts) < 2:
        return []
    users, first_hosts = _split(parts[0]), _split(parts[1])
    # Further "hosts = ..." groups are separated by " : " followed by "hosts =".
    groups = re.split(r"\s:\s*(?=[^=():]+=)", rhs)
    rules = []
    hosts = first_hosts
    for i, group in enumerate(groups):
        if i > 0:
            h, _, group = group.partition("=")
            hosts = _split(h)
        # Within one host group, run-as and tags carry over to the following commands.
        runas: list[str] = ["root"]
        runas_groups: list[str] = []
        tags: dict[str, str] = {}
        cmds: list[Command] = []
        for item in _split(group):
            m = re.match(r"^\(([^)]*)\)\s*(.*)$", item)
            if m:
                user_part, _, group_part = m.group(1).partition(":")
                runas = [x.strip() for x in user_part.split(",") if x.strip()]
                runas_groups = [x.strip() for x in group_part.split(",") if x.strip()]
                if not runas and not runas_groups:
                    runas = ["root"]
                item = m.group(2)
            while (tm := re.match(r"^([A-Z_]+):\s*(.*)$", item)) and tm.group(1) in _TAGS:
                tag = tm.group(1)
                tags[tag.removeprefix("NO")] = tag
                item = tm.group(2)
            cmds.append(
                Command(
                    command=item.strip(),
                    runas=list(runas),
                    runas_groups=list(runas_groups),
                    tags=sorted(tags.values()),
                )
            )
        rules.append(Rule(users=users, hosts=hosts, commands=cmds, file=file, line=line))
    return rules


def _files_in(directory: str) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [
        os.path.join(directory, n)
        for n in names
        if "." not in n and not n.endswith("~") and os.path.isfile(os.path.join(directory, n))
    ]


def collect(path: str) -> SudoRules:
    result = SudoRules(files=[], defaults=[], aliases={}, rules=[], full_root=[])
    seen: set[str] = set()

    def read(file: str, depth: int) -> None:
        if file in seen or depth > 8:
            return
        seen.add(file)
        try:
            with open(file, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            return
        result.files.append(file)
        for no, body in logical_lines(text):
            if m := _INCLUDE.match(body):
                target = m.group(2).strip().strip('"').replace("%h", os.uname().nodename)
                target = (
                    target if os.path.isabs(target) else os.path.join(os.path.dirname(file), target)
                )
                for f in _files_in(target) if m.group(1) == "includedir" else [target]:
                    read(f, depth + 1)
            elif m := re.match(r"^Defaults([:@>!]\S+)?\s+(.*)$", body):
                for setting in _split(m.group(2)):
                    result.defaults.append(
                        Default(scope=m.group(1) or "", setting=setting, file=file, line=no)
                    )
            elif m := _ALIAS.match(body):
                kind = m.group(1).replace("Cmd_Alias", "Cmnd_Alias")
                for part in re.split(r"\s:\s*(?=[A-Z][A-Z0-9_]*\s*=)", m.group(2)):
                    name, _, members = part.partition("=")
                    result.aliases.setdefault(kind, {})[name.strip()] = _split(members)
            elif "=" in body:
                result.rules += parse_spec(body, file, no)

    read(path, 0)
    for r in result.rules:
        for c in r.commands:
            if c.command == "ALL" and any(x in ("ALL", "root") for x in c.runas):
                for u in r.users:
                    result.full_root.append(
                        Grant(principal=u, nopasswd="NOPASSWD" in c.tags, file=r.file, line=r.line)
                    )
    return result


@action("user.sudo.rules", risk=Risk.READ, timeout=20)
async def rules(ctx: ActionContext, p: SudoRulesParams) -> SudoRules:
    """Defaults, aliases and rules of sudoers and its includes, with who gets full root."""
    if not os.path.isabs(p.path):
        raise InvalidParams(f"path: {p.path!r} is not an absolute path")
    result = collect(p.path)
    if not result.files:
        raise NotFound(f"{p.path} does not exist or cannot be read")
    return result
