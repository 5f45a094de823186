"""Matching one observed command or redirection against one rule.

A match has a *strength*:

* ``certain`` — every word involved is known;
* ``program-unknown`` — the program name is only known at run time
  (``$X -rf /``) but its arguments fit the rule: at most *approve*;
* ``if-empty`` — a target only fits when a variable is empty
  (``rm -rf "$DIR"/``): at most *warn*. ``${DIR:?}`` guards against that and
  does not count.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ._expand import Word
from ._programs import program_name
from ._rules import Rule, compile_glob, normalise_path

__all__ = ["CERTAIN", "IF_EMPTY", "PROGRAM_UNKNOWN", "CommandView", "cap_action", "match_command", "match_target"]

CERTAIN = "certain"
PROGRAM_UNKNOWN = "program-unknown"
IF_EMPTY = "if-empty"
_CAPS = {CERTAIN: "block", PROGRAM_UNKNOWN: "approve", IF_EMPTY: "warn"}
_RANK = {"allow": 0, "warn": 1, "approve": 2, "block": 3}


def cap_action(action: str, strength: str) -> str:
    """The action a rule gets at a given match strength."""
    cap = _CAPS[strength]
    return action if _RANK[action] <= _RANK[cap] else cap


@dataclass(slots=True)
class CommandView:
    """A command line as the rules see it."""

    program: str
    program_known: bool  # False: the name is (partly) decided at run time
    args: list[Word]
    flags: set[str] = field(default_factory=set)
    operands: list[Word] = field(default_factory=list)
    joined: str = ""
    cwd: str | None = None

    @classmethod
    def build(cls, argv: Sequence[Word], cwd: str | None = None) -> CommandView:
        first = argv[0]
        view = cls(
            program="" if first.all_unknown else program_name(first),
            program_known=not first.unknown,
            args=list(argv[1:]),
            cwd=cwd,
        )
        view.joined = " ".join(w.text for w in view.args)
        args = view.args
        i = 0
        if view.program == "kill" and args and args[0].text.startswith("-") and args[0].text != "--":
            # kill: the first dash word is a signal; the rest are PIDs, even "-1".
            i = 2 if args[0].text in ("-s", "-n") else 1
            view.flags.add(args[0].text)
            view.operands = args[i:]
            return view
        operands_only = False
        for w in args:
            t = w.text
            if operands_only or t == "-" or not t.startswith("-") or w.all_unknown:
                view.operands.append(w)
                continue
            if t == "--":
                operands_only = True
                continue
            view.flags.add(t)
            if t.startswith("--"):
                view.flags.add(t.split("=", 1)[0])
            elif not w.unknown:
                view.flags.update("-" + ch for ch in t[1:])
        return view


def _guarded(word: Word) -> bool:
    """Every unknown piece is guaranteed non-empty (``${X:?}``), or the word is all unknown."""
    unknown = [p for p in word.pieces if not p.known]
    return all("${:?}" in p.sources for p in unknown)


def _glob_hits(text: str, literals: Sequence[str]) -> bool:
    """An operand that is itself a glob (``/???``, ``/e*``) hits a literal target it would expand to."""
    if not literals or not any(c in text for c in "*?[") or not text.startswith("/"):
        return False
    rx = compile_glob(text.rstrip("/") or "/")
    return any(rx.fullmatch(lit) for lit in literals)


def match_target(
    patterns: Sequence[re.Pattern[str]],
    words: Sequence[Word],
    cwd: str | None,
    literals: Sequence[str] = (),
) -> str | None:
    """The strength with which any of ``words`` fits any of ``patterns``."""
    best: str | None = None
    for w in words:
        if w.all_unknown:
            continue
        text = w.text
        candidates = {text, normalise_path(text, cwd), re.sub(r"/{2,}", "/", text)}
        if not any(p.fullmatch(c) for p in patterns for c in candidates) and not _glob_hits(
            normalise_path(text, cwd), literals
        ):
            continue
        if not w.unknown:
            return CERTAIN
        if not _guarded(w):
            best = IF_EMPTY
    return best


def match_command(rule: Rule, view: CommandView) -> str | None:
    """Whether ``rule`` fits ``view``, and how surely (see the module docstring)."""
    strength = CERTAIN
    if rule.programs:
        if not view.program:
            if not rule.has_argument_conditions:
                return None
            strength = PROGRAM_UNKNOWN
        elif not any(p.fullmatch(view.program) for p in rule.programs):
            return None
        elif not view.program_known:
            strength = PROGRAM_UNKNOWN
    if rule.flags_any and not (rule.flags_any & view.flags):
        return None
    if rule.flags_all and not (rule.flags_all <= view.flags):
        return None
    if rule.unless_flags_any and rule.unless_flags_any & view.flags:
        return None
    texts = [w.text for w in view.args]
    if rule.args_any and not any(p.fullmatch(t) for p in rule.args_any for t in texts):
        return None
    if rule.args_all and not all(any(p.fullmatch(t) for t in texts) for p in rule.args_all):
        return None
    if rule.unless_args_any and any(p.fullmatch(t) for p in rule.unless_args_any for t in texts):
        return None
    if rule.args_regex is not None and not rule.args_regex.search(view.joined):
        return None
    if rule.unless_args_regex is not None and rule.unless_args_regex.search(view.joined):
        return None
    for patterns, words in ((rule.targets_any, view.operands), (rule.dest_any, view.operands[-1:])):
        if not patterns:
            continue
        if len(words) and patterns is rule.dest_any and len(view.operands) < 2:
            return None  # cp/mv need a source and a destination
        got = match_target(patterns, words, view.cwd, rule.target_literals)
        if got is None:
            return None
        if got == IF_EMPTY and strength == CERTAIN:
            strength = IF_EMPTY
    if rule.unless_targets_any and match_target(rule.unless_targets_any, view.operands, view.cwd) == CERTAIN:
        return None
    return strength
