"""High-risk command rules: TOML data, loaded, validated and matched.

A rule file holds named pattern ``[sets]`` and ``[[rule]]`` tables::

    [sets]
    system_dirs = ["/", "/etc", "/usr"]

    [[rule]]
    id = "fs.rm-recursive-system"
    action = "block"                 # block | approve | warn
    message = "recursive removal of / or a system directory"
    programs = ["rm"]                # program names (globs), path stripped
    flags_any = ["-r", "-R", "--recursive"]
    targets_any = ["@system_dirs"]   # operands; paths normalised first

Every condition given must hold; inside one ``*_any`` list, one pattern is
enough. Patterns are shell-style globs where ``*`` stops at ``/`` (``**``
does not); ``@name`` stands for a whole set. See ``docs/security.md`` for the
full field list. Files load in order: a later rule with an existing id
replaces it (``enabled = false`` removes it), and a later set with an existing
name adds to it.
"""

from __future__ import annotations

import posixpath
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

__all__ = [
    "ACTIONS",
    "KINDS",
    "Rule",
    "RuleError",
    "RuleSet",
    "compile_glob",
    "default_rules",
    "normalise_path",
]

Action = Literal["block", "approve", "warn"]
ACTIONS: dict[str, int] = {"allow": 0, "warn": 1, "approve": 2, "block": 3}
KINDS = frozenset(
    {"command", "redirect", "forkbomb", "opaque-shell", "unparseable", "limit", "foreign-script",
     "analysis-error", "env", "unknown-language", "dynamic-code"}
)
_LIST_FIELDS = (
    "programs", "flags_any", "flags_all", "args_any", "args_all", "targets_any", "dest_any",
    "unless_flags_any", "unless_args_any", "unless_targets_any", "ops", "sources_any", "names_any",
)  # fmt: skip
_STR_FIELDS = ("id", "action", "message", "kind", "args_regex", "unless_args_regex", "description",
               "unless_value_regex")
_ALL_FIELDS = frozenset(_LIST_FIELDS + _STR_FIELDS + ("enabled",))
WRITE_OPS = (">", ">|", ">>", "&>", "&>>", "<>", ">&")


class RuleError(ValueError):
    """A rule file is malformed; the message names the file, the rule and the field."""


def compile_glob(pattern: str) -> re.Pattern[str]:
    """A glob as a regex: ``*`` and ``?`` stop at ``/``, ``**`` crosses it, ``[…]`` is a class."""
    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                out.append(".*")
                i += 2
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            j = pattern.find("]", i + 2)
            if j < 0:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = j + 1
                continue
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.S)


def normalise_path(text: str, cwd: str | None = None) -> str:
    """A path operand as the rules see it: absolute when the cwd is known,
    ``.``/``..``/``//`` resolved, and a trailing ``/*`` (everything inside) folded
    into the directory itself. Anything that is not a path comes back unchanged."""
    t = text
    if not t or t.startswith("-") or "=" in t.split("/", 1)[0]:
        return t
    if not t.startswith("/"):
        if cwd is None or t.startswith("~") or t.startswith("$"):
            return t
        t = cwd.rstrip("/") + "/" + t
    t = re.sub(r"/+", "/", t)
    while True:
        stripped = re.sub(r"/(\*|\.\*|\*\*|\.\[!\.\]\*|\{\*,\.\*\}|\.)$", "", t)
        if stripped == t:
            break
        t = stripped or "/"
    t = posixpath.normpath(t)
    return "/" + t.lstrip("/") if t.startswith("//") else t


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule, compiled. Fields as in the TOML; patterns compiled to regexes."""

    id: str
    action: Action
    message: str
    kind: str = "command"
    programs: tuple[re.Pattern[str], ...] = ()
    flags_any: frozenset[str] = frozenset()
    flags_all: frozenset[str] = frozenset()
    args_any: tuple[re.Pattern[str], ...] = ()
    args_all: tuple[re.Pattern[str], ...] = ()
    targets_any: tuple[re.Pattern[str], ...] = ()
    target_literals: tuple[str, ...] = ()  # the plain paths among targets_any/dest_any
    dest_any: tuple[re.Pattern[str], ...] = ()
    unless_flags_any: frozenset[str] = frozenset()
    unless_args_any: tuple[re.Pattern[str], ...] = ()
    unless_targets_any: tuple[re.Pattern[str], ...] = ()
    args_regex: re.Pattern[str] | None = None
    unless_args_regex: re.Pattern[str] | None = None
    ops: frozenset[str] = frozenset(WRITE_OPS)
    sources_any: tuple[re.Pattern[str], ...] = ()
    names_any: tuple[re.Pattern[str], ...] = ()
    unless_value_regex: re.Pattern[str] | None = None
    source: str = ""
    description: str = ""
    spec: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_argument_conditions(self) -> bool:
        """Whether the rule looks at arguments at all (not just the program name)."""
        return bool(
            self.flags_any or self.flags_all or self.args_any or self.args_all
            or self.targets_any or self.dest_any or self.args_regex
        )  # fmt: skip


@dataclass(slots=True)
class RuleSet:
    """An ordered collection of rules and the pattern sets they use."""

    rules: list[Rule] = field(default_factory=list)
    sets: dict[str, list[str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def by_kind(self, kind: str) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind]

    def get(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)

    @classmethod
    def from_toml(cls, text: str, source: str = "<string>", base: RuleSet | None = None) -> RuleSet:
        """Parse one rule file on top of ``base`` (default: nothing)."""
        raw_sets, raw_rules = _read(text, source)
        merged = _Raw.from_ruleset(base) if base is not None else _Raw()
        merged.add(raw_sets, raw_rules, source)
        return merged.compile()

    @classmethod
    def load(cls, paths: Iterable[str | Path], *, include_default: bool = True) -> RuleSet:
        """The default rules (unless told not to), then each file in order."""
        merged = _Raw()
        if include_default:
            text = resources.files(__package__).joinpath("rules.toml").read_text("utf-8")
            merged.add(*_read(text, "rules.toml (built in)"), "rules.toml (built in)")
        for p in paths:
            path = Path(p)
            try:
                text = path.read_text("utf-8")
            except OSError as exc:
                raise RuleError(f"{path}: cannot read: {exc.strerror}") from exc
            merged.add(*_read(text, str(path)), str(path))
        return merged.compile()


def default_rules() -> RuleSet:
    """The built-in rules (``center/security/rules.toml``), loaded once."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = RuleSet.load([], include_default=True)
    return _DEFAULT


_DEFAULT: RuleSet | None = None


def _read(text: str, source: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{source}: not valid TOML: {exc}") from exc
    unknown = set(doc) - {"sets", "rule"}
    if unknown:
        raise RuleError(f"{source}: unknown top-level table(s) {sorted(unknown)}; use [sets] and [[rule]]")
    sets = doc.get("sets", {})
    rules = doc.get("rule", [])
    if not isinstance(sets, dict) or not isinstance(rules, list):
        raise RuleError(f"{source}: [sets] must be a table and [[rule]] an array of tables")
    for name, values in sets.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise RuleError(f"{source}: set {name!r} must be a list of strings")
    return sets, rules


@dataclass(slots=True)
class _Raw:
    sets: dict[str, list[str]] = field(default_factory=dict)
    rules: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @classmethod
    def from_ruleset(cls, rs: RuleSet) -> _Raw:
        raw = cls()
        raw.sets = {k: list(v) for k, v in rs.sets.items()}
        raw.files = list(rs.files)
        for r in rs.rules:
            raw.rules[r.id] = (dict(r.spec), r.source)
        return raw

    def add(self, sets: dict[str, Any], rules: Sequence[Any], source: str) -> None:
        self.files.append(source)
        for name, values in sets.items():
            self.sets.setdefault(name, [])
            self.sets[name] += [v for v in values if v not in self.sets[name]]
        for k, spec in enumerate(rules):
            if not isinstance(spec, dict):
                raise RuleError(f"{source}: rule #{k + 1} is not a table")
            rid = spec.get("id")
            if not isinstance(rid, str) or not rid:
                raise RuleError(f"{source}: rule #{k + 1} has no id")
            bad = set(spec) - _ALL_FIELDS
            if bad:
                raise RuleError(f"{source}: rule {rid!r}: unknown field(s) {sorted(bad)}")
            if spec.get("enabled", True) is False:
                self.rules.pop(rid, None)
                continue
            self.rules[rid] = (dict(spec), source)

    def compile(self) -> RuleSet:
        out = RuleSet(sets={k: list(v) for k, v in self.sets.items()}, files=list(self.files))
        for rid, (spec, source) in self.rules.items():
            out.rules.append(_compile(rid, spec, source, self.sets))
        return out


def _compile(rid: str, spec: dict[str, Any], source: str, sets: dict[str, list[str]]) -> Rule:
    where = f"{source}: rule {rid!r}"
    action = spec.get("action")
    if action not in ("block", "approve", "warn"):
        raise RuleError(f"{where}: action must be block, approve or warn (got {action!r})")
    message = spec.get("message")
    if not isinstance(message, str) or not message:
        raise RuleError(f"{where}: message is required")
    kind = spec.get("kind", "command")
    if kind not in KINDS:
        raise RuleError(f"{where}: kind must be one of {sorted(KINDS)} (got {kind!r})")
    for name in _STR_FIELDS:
        if name in spec and not isinstance(spec[name], str):
            raise RuleError(f"{where}: {name} must be a string")
    lists: dict[str, list[str]] = {}
    for name in _LIST_FIELDS:
        value = spec.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise RuleError(f"{where}: {name} must be a list of strings")
        expanded: list[str] = []
        for v in value:
            if v.startswith("@"):
                if v[1:] not in sets:
                    raise RuleError(f"{where}: {name} uses unknown set {v!r}")
                expanded += sets[v[1:]]
            else:
                expanded.append(v)
        lists[name] = expanded
    if kind == "command" and not lists["programs"]:
        raise RuleError(f"{where}: a command rule needs programs")
    if kind == "redirect" and not lists["targets_any"]:
        raise RuleError(f"{where}: a redirect rule needs targets_any")
    if kind == "env" and not lists["names_any"]:
        raise RuleError(f"{where}: an env rule needs names_any")
    regexes = {}
    for name in ("args_regex", "unless_args_regex", "unless_value_regex"):
        if spec.get(name):
            try:
                regexes[name] = re.compile(spec[name])
            except re.error as exc:
                raise RuleError(f"{where}: {name} is not a valid regex: {exc}") from exc

    def globs(name: str) -> tuple[re.Pattern[str], ...]:
        return tuple(compile_glob(p) for p in lists[name])

    return Rule(
        id=rid,
        action=action,
        message=message,
        kind=kind,
        programs=globs("programs"),
        flags_any=frozenset(lists["flags_any"]),
        flags_all=frozenset(lists["flags_all"]),
        args_any=globs("args_any"),
        args_all=globs("args_all"),
        targets_any=globs("targets_any"),
        target_literals=tuple(p for p in lists["targets_any"] + lists["dest_any"] if p.startswith("/") and not any(c in p for c in "*?[")),
        dest_any=globs("dest_any"),
        unless_flags_any=frozenset(lists["unless_flags_any"]),
        unless_args_any=globs("unless_args_any"),
        unless_targets_any=globs("unless_targets_any"),
        args_regex=regexes.get("args_regex"),
        unless_args_regex=regexes.get("unless_args_regex"),
        ops=frozenset(lists["ops"]) if lists["ops"] else frozenset(WRITE_OPS),
        sources_any=globs("sources_any"),
        names_any=globs("names_any"),
        unless_value_regex=regexes.get("unless_value_regex"),
        source=source,
        description=spec.get("description", ""),
        spec=dict(spec),
    )
