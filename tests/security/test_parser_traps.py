"""Inputs that once made the shell parser loop for ever (``corpus/parser_traps.txt``).

Each is analysed in a child process with 1 GiB of address space and a time limit,
so that a regression fails this test instead of taking the test worker's memory
(the first one grew a worker to 22.9 GB before the kernel killed it). The commands
are data: they go to ``check_command`` only, never to a shell.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

TRAPS = Path(__file__).parent / "corpus" / "parser_traps.txt"

CHILD = """
import ast, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (2**30, resource.RLIM_INFINITY))
from center.security import check_command
verdict = check_command(ast.literal_eval(sys.stdin.read()))
print(verdict.verdict, verdict.rule)
"""


def _traps() -> list[str]:
    lines = TRAPS.read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


@pytest.mark.parametrize("literal", _traps())
def test_the_analyser_answers_in_bounded_memory_and_time(literal: str) -> None:
    assert isinstance(ast.literal_eval(literal), str)
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", CHILD], input=literal, capture_output=True, text=True, timeout=60, cwd=root)
    assert out.returncode == 0, out.stderr[-2000:]
    verdict, rule = out.stdout.split()
    assert verdict in ("approve", "block", "warn", "allow") and rule != "parse.analysis-error", out.stdout
