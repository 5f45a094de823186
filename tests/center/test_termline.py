"""The web terminal's per-line interception (center._termline), without a fleet.

The screen side is fed with what bash itself echoes (recorded shapes of its
output); live tests with a real shell are in tests/integration/test_terminal.py.
Dangerous strings are never used: the marker rule blocks the harmless
``echo FORBIDDEN-MARKER`` (tests/integration/data/marker-rules.toml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from center._policy import Policy
from center._termline import KeyLine, LineGuard, incomplete, keys_of, load_pyte, make_line_checker
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


# -- the screen's shortcut for floods of plain lines ------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from center._termline import SKIP_MIN, _Screen  # noqa: E402

#: What may come before a flood: text, modes, cursor moves, margins, charsets, a sequence cut short.
_BEFORE = st.lists(st.sampled_from([
    "abc", "\r\n", "\n", "\t", "\x1b[4h", "\x1b[4l", "\x1b[20h", "\x1b[?7l", "\x1b[?7h", "\x1b[5;10H", "\x1b[H",
    "\x1b[2J", "\x1b[31;1m", "\x1b[0m", "\x1b[3;10r", "\x1b[r", "\x1b(0", "\x1b(B", "\x0e", "\x0f", "漢字",
    "e\u0301", "\x1b[?1049h", "\x1b[?1049l", "\x1b7", "\x1b8", "\x1b[3", "x" * 100,
]), max_size=12).map("".join)
#: Lines of a flood: plain text of any width (wide, combining, tabs, longer than a row), mostly
#: CR LF. Not a zero-width character that does not combine: pyte drops what follows it in the
#: same ``draw`` call, so its screen depends on how the output was cut into calls, shortcut or not.
_LINE = st.lists(st.sampled_from(list("yes-flood 0123456789\t") + ["漢", "e\u0301", "x" * 90]), max_size=12).map("".join)


def _cells(screen: Any) -> list[list[Any]]:
    return [[screen.buffer[y][x] for x in range(screen.columns)] for y in range(screen.lines)]


def _state(screen: Any) -> tuple[Any, ...]:
    c = screen.cursor
    return (_cells(screen), c.x, c.y, c.attrs, c.hidden, set(screen.mode), screen.margins, screen.charset)


@settings(max_examples=150, deadline=None)
@given(before=_BEFORE, lines=st.lists(_LINE, min_size=1, max_size=40), endings=st.lists(st.sampled_from(["\r\n", "\r\n", "\n"]), min_size=1),
       after=_BEFORE, rows=st.integers(1, 30), cols=st.integers(2, 100), bursts=st.lists(st.integers(1, 30_000), min_size=1, max_size=5))
def test_skipping_a_flood_leaves_the_screen_as_drawing_it_whole(before, lines, endings, after, rows, cols, bursts):
    """Output taken in bursts (LineGuard.output, which keeps a flood's last screenfuls only)
    and then read, gives the very screen pyte draws when fed everything."""
    pyte = load_pyte()

    flood = ""
    i = 0
    while len(flood) < SKIP_MIN * 2:
        flood += lines[i % len(lines)] + endings[i % len(endings)]
        i += 1
    whole = pyte.Screen(cols, rows)
    pyte.Stream(whole).feed(before + flood + after)
    guard = LineGuard(lambda line: None, cols, rows)

    async def take() -> None:
        await guard.output(before)
        rest, k = flood, 0
        while rest:
            size = bursts[k % len(bursts)]
            await guard.output(rest[:size])
            rest, k = rest[size:], k + 1
        await guard.output(after)
        guard._draw()  # what _enter does before it reads the screen

    trio.run(take)
    assert _state(guard.view.screen) == _state(whole)


def test_a_flood_of_plain_lines_is_mostly_skipped_and_one_with_sequences_is_not():
    """(Dangerous strings are never used here: floods are ``yes``-like text.)"""
    view = _Screen(80, 24)
    flood = "yes\r\n" * 10_000
    cut = view.skippable(flood)
    assert flood[cut:].count("\r\n") == 48 and flood[cut:].startswith("\r\n")  # twice the 24 rows
    coloured = "\x1b[32myes\x1b[0m\r\n" * 10_000
    assert view.skippable(coloured[: len(coloured) // 2]) == 0  # an escape sequence anywhere before the tail: fed whole
    view.feed("\x1b[3;10r")  # scroll margins: fed whole
    assert view.skippable(flood) == 0


async def test_a_recalled_line_after_a_flood_is_read_from_the_screen(check):
    """The flood's last screenfuls are drawn before Enter reads the screen: a marker line
    recalled from history right after a flood is refused as it would be without one."""
    guard = LineGuard(check)
    shell = FakeShell(guard, echo=False)
    await guard.output("flood-line\r\n" * 5000 + PROMPT)
    assert guard.statistics["skipped"] > 0 and guard._undrawn

    async def recall() -> None:
        await trio.sleep(0.01)
        await guard.output("echo FORBIDDEN-MARKER")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(recall)
        await feed(guard, shell, "\x1b[A")
    refused = await feed(guard, shell, "\r")
    assert refused and refused[0]["code"] == "C010"


async def test_a_csi_parameter_of_thousands_of_digits_is_capped_not_fatal():
    """``ESC [`` and then more digits than ``int`` takes from a string (4,300): the parameter
    counts as 9999, as any long one does, and the screen goes on drawing."""
    seen: list[str] = []
    guard = LineGuard(seen.append, 80, 24)
    await guard.output("\x1b[" + "7" * 5000 + "\r\n" + "1" * 5000 + "m")
    await guard.output("\x1b[0mstill drawing\r\n")
    view = guard.view.screen
    assert any("still drawing" in line for line in view.display)
