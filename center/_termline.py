"""Per-line interception for the web terminal: Enter is held until the line is checked.

Keystrokes go on to the shell at once (so they echo), except Enter: each line
is reconstructed twice and checked with the same high-risk rules as ``exec.run``
(:func:`center.security.check_exec` on ``bash -c LINE``, plus the action rules
that match ``exec.run``) before the Enter is sent.

* **From the keystrokes** (:class:`KeyLine`): printable text, backspace,
  Delete, ^U, ^W, ^K, ^A/^E, cursor left/right/home/end, ^C. Anything the
  center cannot follow exactly (Tab completion, history, ^R search, yank,
  other escape sequences) makes the keystroke line *uncertain*.
* **From the screen**: a terminal emulator (pyte) keeps the session's screen;
  the line is the text after the last shell prompt at or above the cursor,
  wrapped rows joined. History recall and completion only show up here.

Both are checked and the line is refused if either is blocked (or needs an
approval, which a live line cannot wait for). When neither can be determined
(uncertain keystrokes and no prompt on the screen: a changed ``PS1``, a
full-screen program) the line is refused with C038: fail closed. A refused
line never reaches the shell: instead of Enter the center sends ^E^U (or ^C
inside a multi-line construct), and the browser gets a ``refused`` frame.

Pasted text is treated as typed (bracketed-paste markers are dropped), so
every line of a multi-line paste is checked and runs only after its own check.
A line that is an unfinished construct (open quote, trailing ``|`` or ``\\``,
``do`` without ``done``, a heredoc) is kept and checked again with the
following lines, the way the shell will run it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import trio

__all__ = ["KeyLine", "LineGuard", "incomplete", "make_line_checker"]

#: The prompt ``exec.pty`` sets (``\u@\h:\w\$ ``) and bash's continuation prompt.
PROMPT = re.compile(r"^[^\s@]+@[^\s:]+:.*?[$#] ")
PS2 = re.compile(r"^> ")
#: Seconds of output silence after our last input that count as "the screen caught up".
QUIET = 0.03
#: Longest wait for the screen before the line is judged on what is known.
SETTLE_MAX = 1.0
#: Rows searched upward from the cursor for the prompt.
SEARCH_ROWS = 60
_ALT_SCREENS = {47 << 5, 1047 << 5, 1049 << 5}  # pyte keeps private modes shifted by 5
_CSI = re.compile(r"\x1b\[([0-9;?]*)([ -/]*)([@-~])")
_PASTE = re.compile(r"\x1b\[20[01]~")

Refusal = dict[str, Any]
Checker = Callable[[str], Refusal | None]


class KeyLine:
    """The line being typed, as far as the keystrokes tell it."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.cursor = 0
        self.certain = True
        self.cleared = False

    def reset(self) -> None:
        self.chars, self.cursor, self.certain = [], 0, True

    @property
    def text(self) -> str:
        return "".join(self.chars)

    def key(self, k: str) -> None:
        """Apply one key: a character or a whole escape sequence."""
        c = self.chars
        if k in ("\x7f", "\x08"):
            if self.cursor:
                del c[self.cursor - 1]
                self.cursor -= 1
        elif k == "\x15":  # ^U: discard before the cursor
            del c[: self.cursor]
            self.cursor = 0
        elif k == "\x0b":  # ^K: kill to the end
            del c[self.cursor :]
        elif k == "\x17":  # ^W: the word before the cursor (whitespace-delimited)
            i = self.cursor
            while i and c[i - 1].isspace():
                i -= 1
            while i and not c[i - 1].isspace():
                i -= 1
            del c[i : self.cursor]
            self.cursor = i
        elif k in ("\x01", "\x1b[H", "\x1bOH", "\x1b[1~"):
            self.cursor = 0
        elif k in ("\x05", "\x1b[F", "\x1bOF", "\x1b[4~"):
            self.cursor = len(c)
        elif k in ("\x02", "\x1b[D", "\x1bOD"):
            self.cursor = max(0, self.cursor - 1)
        elif k in ("\x06", "\x1b[C", "\x1bOC"):
            self.cursor = min(len(c), self.cursor + 1)
        elif k in ("\x1b[3~", "\x04"):  # Delete, ^D (on an empty line ^D is EOF: nothing runs)
            if self.cursor < len(c):
                del c[self.cursor]
        elif k == "\x0c":  # ^L redraws; the line stays
            pass
        elif len(k) == 1 and k >= " ":
            c.insert(self.cursor, k)
            self.cursor += 1
        else:  # Tab, history, search, yank, transpose, quoted insert, Alt-…: not followed
            self.certain = False


def keys_of(data: str) -> list[str]:
    """Split input into keys: characters, and escape sequences as one key each."""
    out: list[str] = []
    i = 0
    while i < len(data):
        ch = data[i]
        if ch == "\x1b":
            m = _CSI.match(data, i)
            if m:
                out.append(m.group(0))
                i = m.end()
                continue
            if i + 2 < len(data) + 1 and data[i + 1 : i + 2] == "O" and i + 2 < len(data):
                out.append(data[i : i + 3])
                i += 3
                continue
            out.append(data[i : i + 2] if i + 1 < len(data) else ch)
            i += len(out[-1])
            continue
        out.append(ch)
        i += 1
    return out


def incomplete(text: str) -> bool:
    """Whether bash would surely wait for more lines after ``text`` (an open quote, a
    trailing ``\\`` or operator, an open ``(``/``{``/``$(``/backtick, a compound
    keyword without its end, a heredoc without its terminator). Conservative:
    when unsure it answers False, and the line is then checked on its own."""
    quote = ""
    depth = 0
    i = 0
    words: list[str] = []
    word = ""
    heredocs: list[str] = []
    while i < len(text):
        ch = text[i]
        if quote == "'":
            if ch == "'":
                quote = ""
        elif quote == '"':
            if ch == "\\":
                i += 1
            elif ch == '"':
                quote = ""
        elif quote == "`":
            if ch == "`":
                quote = ""
        else:
            if ch == "\\":
                if i == len(text) - 1:
                    return True
                i += 1
                word += text[i]
            elif ch in "'\"`":
                quote = ch
            elif ch in "({":
                depth += 1
            elif ch in ")}":
                depth -= 1
            elif ch == "#" and not word:
                nl = text.find("\n", i)
                if nl < 0:
                    break
                i = nl
                continue
            if ch.isspace() or ch in ";&|()":
                if word:
                    words.append(word)
                    word = ""
                if ch in ";&|()":
                    words.append(ch)
            elif ch not in "'\"`\\":
                word += ch
            m = re.match(r"<<-?\s*['\"]?([A-Za-z0-9_]+)", text[i:]) if ch == "<" and text[i : i + 2] == "<<" and text[i : i + 3] != "<<<" else None
            if m:
                heredocs.append(m.group(1))
                i += m.end()
                continue
        i += 1
    if word:
        words.append(word)
    if quote or depth > 0:
        return True
    lines = text.split("\n")
    for tag in heredocs:
        if not any(line.strip() == tag for line in lines[1:]):
            return True
    if words and (words[-1] in ("|", "&&", "||") or text.rstrip().endswith(("|", "&&", "||"))):
        return True
    opens = closes = 0
    command_position = True  # keywords count only where a command starts
    for w in words:
        if w in (";", "&", "|", "(", ")"):
            command_position = True
            continue
        if command_position:
            opens += w in ("if", "for", "while", "until", "case", "select")
            closes += w in ("fi", "done", "esac")
        command_position = w in ("then", "do", "else", "elif", "if", "while", "until", "!", "{", "time")
    return opens > closes


#: Output that is plain text: printable characters, tab, CR and LF (no escape or control
#: sequence, nothing that changes a mode, the margins or the character sets).
_PLAIN = re.compile(r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*")
#: Output fed at once below this is fed whole (the shortcut is for floods).
SKIP_MIN = 8192
#: Characters of output drawn on the screen per event-loop step (pyte takes 2-5 ms for this
#: much text): a session printing megabytes never holds the center's loop for long.
SCREEN_SLICE = 1024
#: The most output kept undrawn (the last screenfuls of a flood) before it is drawn anyway.
MAX_UNDRAWN = 16 * 1024


def _capped_int(value: Any = 0, *args: Any) -> int:
    """``int`` for pyte's CSI parameters: a digit run pyte would cap at 9999 anyway is capped
    before conversion. Past Python's 4,300-digit limit ``int`` raised ValueError and ended
    pyte's parser, and with it the session's screen (a command printing ``ESC [`` and then
    digits, e.g. ``cat`` of a binary file; found by the test below)."""
    if not args and isinstance(value, str) and len(value) > 4 and value.isdigit():
        value = value.lstrip("0") or "0"
        if len(value) > 4:
            return 9999
    return int(value, *args)


def load_pyte() -> Any:
    """pyte, with its CSI parameters read by :func:`_capped_int` (imported when first needed)."""
    import pyte
    import pyte.streams

    pyte.streams.int = _capped_int  # type: ignore[attr-defined]
    return pyte


class _Screen:
    """The session's screen (pyte), counting nothing but what the checker needs.

    pyte draws ~0.3 MB of text a second, so a session printing a big file would cost the
    center a core. A long run of plain text (:data:`_PLAIN`) ending in at least twice the
    screen's height of CR LF lines leaves the screen exactly as its last such lines alone
    would (every row and the cursor are then theirs; with no scroll margins set and the
    parser between sequences, nothing before them changes any state): the caller skips
    what comes before them (:meth:`skippable`). ``tests/center/test_termline.py`` checks
    the equality against pyte fed everything.
    """

    def __init__(self, cols: int, rows: int) -> None:
        pyte = load_pyte()
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.Stream(self.screen)

    def feed(self, text: str) -> None:
        self.stream.feed(text)

    def skippable(self, text: str) -> int:
        """How many leading characters of ``text`` (to be fed next, whole) cannot show once
        the rest is fed: the caller feeds only ``text[skippable:]``."""
        if len(text) < SKIP_MIN or self.screen.margins is not None or not self.stream._taking_plain_text:
            return 0
        cut = len(text)
        for _ in range(2 * self.screen.lines):
            cut = text.rfind("\r\n", 0, cut)
            if cut <= 0:
                return 0
        return cut if _PLAIN.fullmatch(text, 0, cut) else 0

    def resize(self, cols: int, rows: int) -> None:
        self.screen.resize(rows, cols)

    @property
    def alternate(self) -> bool:
        return bool(_ALT_SCREENS & self.screen.mode)

    def line(self, continuation: bool) -> str | None:
        """The text after the prompt the cursor's line starts with, or None when no prompt is seen."""
        if self.alternate:
            return None
        rows = self.screen.display
        cols = self.screen.columns
        y = self.screen.cursor.y
        pattern = PS2 if continuation else PROMPT

        def prompt_row(r: int) -> bool:
            return bool(pattern.match(rows[r]) or PROMPT.match(rows[r]))

        start = None
        for r in range(y, max(-1, y - SEARCH_ROWS), -1):
            if prompt_row(r):
                start = p = r
                # A row that only looks like a prompt may be the wrapped tail of an
                # earlier one: prefer the first prompt of the chain of full rows above.
                while p > 0 and len(rows[p - 1].rstrip()) == cols:
                    p -= 1
                    if prompt_row(p):
                        start = p
                break
        if start is None:
            return None
        first = rows[start]
        m = pattern.match(first) or PROMPT.match(first)
        assert m is not None
        end = y
        while end + 1 < len(rows) and len(rows[end].rstrip()) == cols and rows[end + 1].strip():
            end += 1  # the cursor sits inside a line that wraps on below it
        parts = [first[m.end() :]] + rows[start + 1 : end + 1]
        return ("".join(parts[:-1]) + parts[-1].rstrip()) if len(parts) > 1 else parts[0].rstrip()


def make_line_checker(policy: Any) -> Checker:
    """The check of one complete line: ``bash -c LINE`` through :func:`check_exec`
    with the policy's rules, and the action rules that match ``exec.run``."""
    from transports import ErrorCode

    from .security import check_exec

    def check(line: str) -> Refusal | None:
        found: list[tuple[str, str, str]] = []
        v = check_exec(["/bin/bash", "-c", line], policy.rules if policy is not None else None)
        if v.verdict in ("block", "approve"):
            found.append((v.verdict, v.rule or "", v.message))
        params = {"cmd": line, "shell": "/bin/bash"}
        for r in getattr(policy, "action_rules", []):
            if r.verdict in ("block", "approve") and r.matches("exec.run", params):
                found.append((r.verdict, f"action:{r.id}", r.message))
        if not found:
            return None
        found.sort(key=lambda f: f[0] != "block")
        verdict, rule, message = found[0]
        if rule == "parse.unparseable":
            code, why = ErrorCode.C038, message
        elif verdict == "block":
            code, why = ErrorCode.C010, message
        else:
            code, why = ErrorCode.C011, f"{message}; a terminal line cannot wait for an approval (submit it as a job)"
        return {"line": line, "code": code.value, "rule": rule, "message": why, "hint": code.hint}

    return check


class LineGuard:
    """One session's interception: :meth:`feed` keystrokes, :meth:`screen` output.

    :param check: ``line -> refusal | None`` (see :func:`make_line_checker`).
    """

    def __init__(self, check: Checker, cols: int = 80, rows: int = 24) -> None:
        self.check = check
        self.keys = KeyLine()
        self.view = _Screen(cols, rows)
        self.pending = ""  # earlier lines of an unfinished construct
        self._output = trio.Event()
        self._last_output = 0.0
        self._last_input = 0.0
        self.statistics = {"lines": 0, "refused": 0, "undetermined": 0, "skipped": 0}
        #: Output taken but not drawn yet: the last screenfuls of a flood of plain lines.
        self._undrawn = ""

    def screen(self, text: str) -> None:
        """Draw output on the screen now (with whatever :meth:`output` left to draw)."""
        self.view.feed(self._undrawn + text)
        self._undrawn = ""
        self._saw_output()

    async def output(self, text: str) -> None:
        """Take the session's output: drawn on the screen in slices of :data:`SCREEN_SLICE`
        characters with a checkpoint between them, except a flood of plain lines, whose last
        screenfuls only are kept (see :class:`_Screen`) and drawn when the screen is read."""
        self._saw_output()
        whole = self._undrawn + text
        cut = self.view.skippable(whole)
        self.statistics["skipped"] += cut
        if cut and len(whole) - cut <= MAX_UNDRAWN:
            self._undrawn = whole[cut:]
            return
        self._undrawn = ""
        for i in range(cut, len(whole), SCREEN_SLICE):
            if i > cut:
                await trio.lowlevel.checkpoint()  # let the other sessions run between slices
            self.view.feed(whole[i : i + SCREEN_SLICE])

    def _draw(self) -> None:
        if self._undrawn:
            self.view.feed(self._undrawn)
            self._undrawn = ""

    def _saw_output(self) -> None:
        self._last_output = trio.current_time()
        self._output.set()
        self._output = trio.Event()

    def resize(self, cols: int, rows: int) -> None:
        self._draw()  # what was kept was judged for the old size
        self.view.resize(cols, rows)

    async def feed(self, data: str, send: Callable[[bytes], Any]) -> list[Refusal]:
        """Send ``data`` on (``await send(bytes)``), holding each Enter until its line is
        checked; returns the refusals."""
        refusals: list[Refusal] = []
        buf: list[str] = []

        async def flush() -> None:
            if buf:
                self._last_input = trio.current_time()
                await send("".join(buf).encode())
                buf.clear()

        for key in keys_of(_PASTE.sub("", data)):
            if key in ("\r", "\n"):
                await flush()
                refusal = await self._enter()
                if refusal is None:
                    self._last_input = trio.current_time()
                    await send(b"\r")
                else:
                    refusals.append(refusal)
                    self._last_input = trio.current_time()
                    await send(b"\x03" if self.pending else b"\x05\x15")
                    self.pending = ""
                self.keys.reset()
                continue
            if key == "\x03":  # ^C: the shell drops the line and any unfinished construct
                self.keys.reset()
                self.pending = ""
            else:
                self.keys.key(key)
            buf.append(key)
        await flush()
        return refusals

    async def _settled(self) -> bool:
        """Wait until the screen shows what was typed: output came after our last input
        and then nothing for :data:`QUIET` seconds. False when it did not settle in time."""
        end = trio.current_time() + SETTLE_MAX
        while trio.current_time() < end:
            now = trio.current_time()
            if self._last_output >= self._last_input and now - self._last_output >= QUIET:
                return True
            with trio.move_on_after(min(QUIET, end - now)):
                await self._output.wait()
        return False

    async def _enter(self) -> Refusal | None:
        self.statistics["lines"] += 1
        keyed = self.keys.text if self.keys.certain else None
        continuation = bool(self.pending)
        seen: str | None = None
        if keyed is None or keyed:
            # The keystrokes alone may not be the whole story: wait for the echo.
            if await self._settled() or keyed is not None:
                self._draw()
                seen = self.view.line(continuation)
        candidates = []
        for line in (keyed, seen):
            if line is not None and line not in candidates:
                candidates.append(line)
        if not candidates:
            self.statistics["undetermined"] += 1
            self.statistics["refused"] += 1
            from transports import ErrorCode

            code = ErrorCode.C038
            return {"line": self.keys.text, "code": code.value, "rule": "undetermined",
                    "message": "the line could not be read from the keystrokes nor from the screen; it was not run", "hint": code.hint}
        unfinished = True
        for line in candidates:
            whole = self.pending + line
            refusal = self.check(whole)
            if refusal is not None and not (refusal["rule"] == "parse.unparseable" and incomplete(whole)):
                self.statistics["refused"] += 1
                return refusal
            unfinished = unfinished and incomplete(whole)
        self.pending = (self.pending + candidates[0] + "\n") if unfinished else ""
        return None
