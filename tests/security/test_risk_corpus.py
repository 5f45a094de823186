"""The interception corpus: dangerous commands must be caught, everyday ones must pass.

The commands live in data files (``corpus/dangerous.toml``, ``corpus/everyday.toml``)
and are only ever *parsed* here, never run. The caught / missed / false-positive
figures are printed at the end of the test run (see ``conftest.py``) and recorded
in ``docs/security.md``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from center.security import check_command
from center.security._rules import ACTIONS

CORPUS = Path(__file__).parent / "corpus"
FIGURES: dict[str, int] = {}


def _load(name: str) -> list[tuple[str, str, str]]:
    doc = tomllib.loads((CORPUS / name).read_text("utf-8"))
    return [
        (group, spec.get("expect", "allow"), cmd)
        for group, spec in doc.items()
        for cmd in spec["commands"]
    ]


def _known_misses() -> set[str]:
    doc = tomllib.loads((CORPUS / "dangerous.toml").read_text("utf-8"))
    return {cmd for spec in doc.values() if spec.get("known_miss") for cmd in spec["commands"]}


DANGEROUS = _load("dangerous.toml")
EVERYDAY = _load("everyday.toml")
KNOWN_MISSES = _known_misses()


def _figures() -> dict[str, int]:
    if not FIGURES:
        caught = sum(
            ACTIONS[check_command(cmd).verdict] >= ACTIONS[expect] for _, expect, cmd in DANGEROUS
        )
        held = sum(check_command(cmd).verdict in ("block", "approve") for _, _, cmd in DANGEROUS)
        false_pos = sum(check_command(cmd).verdict != "allow" for _, _, cmd in EVERYDAY)
        FIGURES.update(
            dangerous=len(DANGEROUS),
            caught=caught,
            missed=len(DANGEROUS) - caught,
            held=held,
            everyday=len(EVERYDAY),
            false_positives=false_pos,
            passed=len(EVERYDAY) - false_pos,
        )
    return FIGURES


def _marked(group: str, expect: str, cmd: str) -> object:
    if cmd in KNOWN_MISSES:
        # Strict: the day one is caught, this fails and the entry moves out of known-misses.
        return pytest.param(group, expect, cmd, marks=pytest.mark.xfail(strict=True, reason="known miss"))
    return (group, expect, cmd)


@pytest.mark.parametrize(
    ("group", "expect", "cmd"),
    [_marked(*entry) for entry in DANGEROUS],
    ids=[f"{g}:{c[:40]}" for g, _, c in DANGEROUS],
)
def test_dangerous_is_intercepted(group, expect, cmd):
    verdict = check_command(cmd)
    assert ACTIONS[verdict.verdict] >= ACTIONS[expect], f"{cmd!r} → {verdict.one_line()}"
    assert verdict.rule and verdict.findings


@pytest.mark.parametrize(("group", "expect", "cmd"), EVERYDAY, ids=[f"{g}:{c[:40]}" for g, _, c in EVERYDAY])
def test_everyday_passes(group, expect, cmd):
    verdict = check_command(cmd)
    assert verdict.verdict == "allow", f"false positive: {cmd!r} → {verdict.one_line()}"
    assert verdict.parsed, f"{cmd!r} was not parsed"


def test_corpus_is_big_enough_and_figures_add_up():
    figures = _figures()
    assert figures["dangerous"] >= 100
    assert figures["everyday"] >= 100
    assert figures["caught"] + figures["missed"] == figures["dangerous"]
    assert figures["missed"] == len(KNOWN_MISSES)
    assert figures["false_positives"] == 0
    assert len({c for _, _, c in DANGEROUS}) == len(DANGEROUS), "duplicate dangerous entries"
    assert len({c for _, _, c in EVERYDAY}) == len(EVERYDAY), "duplicate everyday entries"
