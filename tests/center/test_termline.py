"""The web terminal's per-line interception (center._termline), without a fleet.

The screen side is fed with what bash itself echoes (recorded shapes of its
output); live tests with a real shell are in tests/integration/test_terminal.py.
Dangerous strings are never used: the marker rule blocks the harmless
``echo FORBIDDEN-MARKER`` (tests/integration/data/marker-rules.toml).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from center._policy import Policy
from center._termline import KeyLine, LineGuard, incomplete, keys_of, make_line_checker
from center.security import RuleSet

MARKER_RULES = Path(__file__).resolve().parents[1] / "integration" / "data" / "marker-rules.toml"
PROMPT = "root@vm:~# "


@pytest.fixture(scope="module")
def check():
    return make_line_checker(Policy(RuleSet.load([str(MARKER_RULES)])))


def typed(*keys: str) -> KeyLine:
    line = KeyLine()
    for data in keys:
        for k in keys_of(data):
            line.key(k)
    return line


def test_keyline_edits():
    assert typed("echo hi").text == "echo hi"
    assert typed("echo hiX\x7f").text == "echo hi"
    assert typed("rm -rf x\x15ls").text == "ls"
    assert typed("echo one two\x17three").text == "echo one three"
    assert typed("cho\x01e").text == "echo"
    assert typed("ech\x1b[D\x1b[Dx").text == "exch"
    assert typed("abc\x1b[D\x1b[D\x0b").text == "a"
    assert typed("abc\x01\x1b[3~").text == "bc"
    assert typed("ls").certain
    for uncertain in ("\t", "\x1b[A", "\x12", "\x19", "\x1bb"):
        assert not typed("ls", uncertain).certain, repr(uncertain)


@pytest.mark.parametrize("text", ['echo "a', "echo a |", "echo a \\", "for i in 1 2; do", "cat <<EOF", "(echo a", "if true; then", "x=$(echo"])
def test_incomplete(text):
    assert incomplete(text)


@pytest.mark.parametrize("text", ["echo a", 'echo "a"', "for i in 1; do echo $i; done", "cat <<EOF\nx\nEOF", "echo if", "ls # (open"])
def test_complete(text):
    assert not incomplete(text)


def test_checker_blocks_the_marker_and_allows_others(check):
    refusal = check("echo FORBIDDEN-MARKER")
    assert refusal is not None and refusal["code"] == "C010" and refusal["rule"] == "test.forbidden-marker"
    assert check("echo 'FORBIDDEN''-MARKER'") is not None  # quoting tricks are seen through
    assert check("ls -l /tmp") is None


class FakeShell:
    """Echoes input onto the guard's screen like readline does (prompt, text, CR LF on Enter)."""

    def __init__(self, guard: LineGuard, echo: bool = True) -> None:
        self.guard = guard
        self.echo = echo
        self.sent: list[bytes] = []
        guard.screen(PROMPT)

    async def send(self, data: bytes) -> None:
        self.sent.append(data)
        if not self.echo:
            return
        text = data.decode()
        if text == "\r":
            self.guard.screen("\r\n" + PROMPT)
        elif text in ("\x05\x15", "\x03"):
            self.guard.screen("^C\r\n" + PROMPT)
        else:
            self.guard.screen(text)


async def feed(guard: LineGuard, shell: FakeShell, data: str) -> list[dict]:
    return await guard.feed(data, shell.send)


async def test_allowed_line_gets_its_enter(check):
    guard = LineGuard(check)
    shell = FakeShell(guard)
    assert await feed(guard, shell, "echo hello\r") == []
    assert shell.sent == [b"echo hello", b"\r"]


async def test_blocked_line_never_gets_enter(check):
    guard = LineGuard(check)
    shell = FakeShell(guard)
    refused = await feed(guard, shell, "echo FORBIDDEN-MARKER\r")
    assert [r["code"] for r in refused] == ["C010"]
    assert b"\r" not in shell.sent and shell.sent[-1] == b"\x05\x15"


async def test_edited_into_the_marker_is_blocked(check):
    guard = LineGuard(check)
    shell = FakeShell(guard)
    refused = await feed(guard, shell, "echo FORBIDDEN-MARKEX\x7fR\r")
    assert refused and refused[0]["line"] == "echo FORBIDDEN-MARKER"


async def test_history_recall_is_read_from_the_screen(check):
    """Up-arrow: the keystrokes cannot tell the line, the screen shows it (bash redraws it)."""
    guard = LineGuard(check)
    shell = FakeShell(guard, echo=False)

    async def recall() -> None:
        await trio.sleep(0.01)
        guard.screen("echo FORBIDDEN-MARKER")  # what readline draws for the recalled line

    async with trio.open_nursery() as nursery:
        nursery.start_soon(recall)
        await feed(guard, shell, "\x1b[A")
    refused = await feed(guard, shell, "\r")
    assert refused and refused[0]["code"] == "C010"
    assert b"\r" not in shell.sent


async def test_undetermined_line_is_refused(check):
    """Uncertain keystrokes and no prompt on the screen: fail closed (C038)."""
    guard = LineGuard(check)
    shell = FakeShell(guard, echo=False)
    guard.screen("\x1b[2J\x1b[Hsomething without a prompt")
    refused = await feed(guard, shell, "ls\t\r")
    assert [r["code"] for r in refused] == ["C038"]


async def test_multiline_paste_checks_each_line(check):
    guard = LineGuard(check)
    shell = FakeShell(guard)
    refused = await feed(guard, shell, "\x1b[200~echo one\necho FORBIDDEN-MARKER\necho three\n\x1b[201~")
    assert [r["line"] for r in refused] == ["echo FORBIDDEN-MARKER"]
    assert shell.sent.count(b"\r") == 2  # lines one and three ran; the marker never got its Enter
    assert not any(b"\x1b[20" in s for s in shell.sent)  # bracketed paste is undone: lines run one by one


async def test_unfinished_construct_is_checked_whole(check):
    guard = LineGuard(check)
    shell = FakeShell(guard)
    # The continuation prompt is "> ": the fake shell shows the main prompt, the checker reads either.
    refused = await feed(guard, shell, "for i in 1; do\recho FORBIDDEN-MARKER\rdone\r")
    assert refused[0]["line"] == "for i in 1; do\necho FORBIDDEN-MARKER" and refused[0]["code"] == "C010"
    assert shell.sent[:4] == [b"for i in 1; do", b"\r", b"echo FORBIDDEN-MARKER", b"\x03"]  # ^C drops the whole construct
    # A lone "done" after that is what bash would call a syntax error: not run either.
    assert refused[1]["code"] == "C038" and b"\r" not in shell.sent[2:]
