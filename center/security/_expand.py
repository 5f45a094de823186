"""Symbolic shell word expansion: what a word *would* be, as far as text can tell.

The analyser never runs anything. A word's value is a list of pieces, each
either known text or *unknown* (a variable set outside the command, the output
of a program we do not model). Unknown pieces remember where they came from
(``sources``), so a rule can tell ``curl … | sh`` from ``eval "$(ssh-agent)"``.

Covered: single, double and ``$'…'`` quotes, backslashes, ``$VAR``/``${VAR}``
and the common ``${VAR…}`` operators (default, substring, replace, prefix and
suffix removal, case), ``$IFS`` tricks, positional parameters, command and
process substitution (handed back to the analyser), brace expansion and field
splitting of unquoted expansions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from ._shellscan import QUOTING, find_substitutions, scan_dollar, skip_double, skip_quoted

__all__ = [
    "PLACEHOLDER",
    "Env",
    "Expander",
    "Piece",
    "Unknown",
    "Word",
    "brace_expand",
    "decode_ansi_c",
    "decode_echo_escapes",
]

PLACEHOLDER = "${__starling_unknown__}"
"""How an unknown piece is written back into shell text (``sh -c "$X"``): a
variable nobody sets, so the analyser sees it as unknown again."""

_MAX_BRACE = 256
_MAX_VALUE = 256 * 1024
DEFAULT_VARS: dict[str, str] = {
    # What a root shell on a Linux host starts with; obfuscations lean on these
    # (``${PATH:0:1}`` is "/", ``rm${IFS}-rf``).
    "IFS": " \t\n",
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "SHELL": "/bin/sh",
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PARAM = re.compile(r"([A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-])(.*)", re.S)


@dataclass(frozen=True, slots=True)
class Unknown:
    """A value the analyser cannot know; ``sources`` says what produced it."""

    sources: frozenset[str] = frozenset()

    def __or__(self, other: Unknown) -> Unknown:
        return Unknown(self.sources | other.sources)


Data = bytes | Unknown
"""What flows through a pipe: known bytes (maybe holding :data:`PLACEHOLDER`) or unknown."""


@dataclass(frozen=True, slots=True)
class Piece:
    text: str
    known: bool = True
    split: bool = False  # from an unquoted expansion: subject to field splitting
    sources: frozenset[str] = frozenset()


@dataclass(slots=True)
class Word:
    """One shell word after expansion."""

    pieces: list[Piece]
    raw: str = ""
    data: Data | None = None  # for a process substitution: what reading it yields

    @property
    def text(self) -> str:
        """The value with unknown pieces taken as empty."""
        return "".join(p.text for p in self.pieces if p.known)

    @property
    def unknown(self) -> bool:
        return any(not p.known for p in self.pieces)

    @property
    def all_unknown(self) -> bool:
        return self.unknown and not self.text

    @property
    def shell(self) -> str:
        """The value as shell text, unknown pieces as :data:`PLACEHOLDER`."""
        return "".join(p.text if p.known else PLACEHOLDER for p in self.pieces)

    @property
    def display(self) -> str:
        return "".join(p.text if p.known else "${?}" for p in self.pieces)

    @property
    def sources(self) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for p in self.pieces:
            out |= p.sources
        return out

    @property
    def literal(self) -> bool:
        """Written plainly: no quotes, escapes or expansions (so alias-expandable)."""
        return bool(self.raw) and not any(c in self.raw for c in "'\"\\$`")

    @classmethod
    def of(cls, text: str) -> Word:
        return cls([Piece(text)], raw=text)


@dataclass(slots=True)
class Env:
    """What the analyser knows of the shell's state at one point of a script."""

    vars: dict[str, str | Unknown] = field(default_factory=lambda: dict(DEFAULT_VARS))
    aliases: dict[str, str] = field(default_factory=dict)
    functions: dict[str, tuple[object, str]] = field(default_factory=dict)
    positional: list[Word] | None = None
    cwd: str | None = None
    arrays: dict[str, list[Word]] = field(default_factory=dict)
    arg0: Word | None = None
    files: dict[str, Data] = field(default_factory=dict)  # what the command wrote so far

    def copy(self) -> Env:
        return Env(
            dict(self.vars),
            dict(self.aliases),
            dict(self.functions),
            None if self.positional is None else list(self.positional),
            self.cwd,
            {k: list(v) for k, v in self.arrays.items()},
            self.arg0,
            self.files,  # the file system is shared by subshells, unlike variables
        )


_ANSI = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r",
         "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}  # fmt: skip


def _decode_escapes(s: str, *, octal_needs_zero: bool) -> tuple[str, bool]:
    r"""Decode backslash escapes; returns (text, saw ``\c``: stop output)."""
    out: list[str] = []
    i = 0
    n = len(s)
    while i < n:
        c = s[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        e = s[i + 1]
        if e in _ANSI:
            out.append(_ANSI[e])
            i += 2
        elif e == "x":
            m = re.match(r"[0-9A-Fa-f]{1,2}", s[i + 2 :])
            if m:
                out.append(chr(int(m.group(), 16)))
                i += 2 + m.end()
            else:
                out.append("\\x")
                i += 2
        elif e in "uU":
            m = re.match("[0-9A-Fa-f]{1,4}" if e == "u" else "[0-9A-Fa-f]{1,8}", s[i + 2 :])
            if m and int(m.group(), 16) < 0x110000:
                out.append(chr(int(m.group(), 16)))
                i += 2 + m.end()
            else:
                out.append("\\" + e)
                i += 2
        elif e == "0" or (e in "1234567" and not octal_needs_zero):
            start = i + 2 if e == "0" and octal_needs_zero else i + 1
            m = re.match(r"[0-7]{1,3}", s[start:])
            value = int(m.group(), 8) if m else 0
            out.append(chr(value & 0xFF))
            i = start + (m.end() if m else 0)
        elif e == "c":
            if octal_needs_zero:
                return "".join(out), True
            if i + 2 < n:
                out.append(chr(ord(s[i + 2]) & 0x1F))
                i += 3
            else:
                i += 2
        else:
            out.append("\\" + e)
            i += 2
    return "".join(out), False


def decode_ansi_c(s: str) -> str:
    """The value of a ``$'…'`` string's inside."""
    return _decode_escapes(s, octal_needs_zero=False)[0]


def decode_echo_escapes(s: str) -> tuple[str, bool]:
    """``echo -e``/``printf %b`` escapes; the flag is True after ``\\c`` (stop)."""
    return _decode_escapes(s, octal_needs_zero=True)


def _glob_regex(pattern: str) -> str:
    out = []
    for c in pattern:
        out.append(".*" if c == "*" else "." if c == "?" else re.escape(c))
    return "".join(out)


def brace_expand(raw: str) -> list[str]:
    """Bash brace expansion of one raw word (``{rm,-rf,/}``, ``a{1..3}``)."""
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c in QUOTING:
            i = skip_quoted(raw, i)
            continue
        if c == "$":
            i = max(scan_dollar(raw, i), i + 1)
            continue
        if c == "{":
            end, parts = _brace_parts(raw, i)
            if end > 0 and parts is not None:
                prefix, suffix = raw[:i], raw[end:]
                out: list[str] = []
                for alt in parts:
                    for tail in brace_expand(suffix):
                        out.append(prefix + alt + tail)
                        if len(out) >= _MAX_BRACE:
                            return out
                return out
        i += 1
    return [raw]


def _brace_parts(raw: str, i: int) -> tuple[int, list[str] | None]:
    depth = 0
    parts: list[str] = []
    start = i + 1
    j = i
    while j < len(raw):
        c = raw[j]
        if c == "\\":
            j += 2
            continue
        if c in "'\"":
            return -1, None  # quoted pieces inside braces: leave the word alone
        if c == "$":
            j = max(scan_dollar(raw, j), j + 1)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                parts.append(raw[start:j])
                if len(parts) > 1:
                    expanded = [e for p in parts for e in brace_expand(p)]
                    return j + 1, expanded
                m = re.fullmatch(r"(-?\d+)\.\.(-?\d+)|([a-zA-Z])\.\.([a-zA-Z])", parts[0])
                if m and m.group(1) is not None:
                    a, b = int(m.group(1)), int(m.group(2))
                    step = 1 if b >= a else -1
                    return j + 1, [str(x) for x in range(a, b + step, step)][:_MAX_BRACE]
                if m:
                    a, b = ord(m.group(3)), ord(m.group(4))
                    step = 1 if b >= a else -1
                    return j + 1, [chr(x) for x in range(a, b + step, step)]
                return -1, None
        elif c == "," and depth == 1:
            parts.append(raw[start:j])
            start = j + 1
        j += 1
    return -1, None


class Expander:
    """Expands raw words against an :class:`Env`.

    :param env: the shell state (variables, positional parameters).
    :param substitute: runs the text of a ``$(…)``/backtick and returns its output.
    :param process_substitute: runs the text of a ``<(…)`` and returns its output.
    """

    def __init__(
        self,
        env: Env,
        substitute: Callable[[str], Data],
        process_substitute: Callable[[str], Data],
    ) -> None:
        self.env = env
        self._sub = substitute
        self._procsub = process_substitute

    # --- public ---------------------------------------------------------------

    def words(self, raw: str) -> list[Word]:
        """Brace expansion, then expansion and field splitting: zero or more words."""
        out: list[Word] = []
        for alt in brace_expand(raw):
            out.extend(self._split(self.one(alt)))
        return out

    def one(self, raw: str) -> Word:
        """Expand one word without field splitting (assignments, redirect targets)."""
        if (raw.startswith("<(") or raw.startswith(">(")) and raw.endswith(")"):
            data = self._procsub(raw[2:-1])
            return Word([Piece("/dev/fd/63")], raw=raw, data=data)
        pieces: list[Piece] = []
        self._pieces(raw, 0, len(raw), pieces, mode="plain")
        return Word(pieces or [Piece("")], raw=raw)

    def heredoc(self, body: str) -> Data:
        """A here-document body with ``$`` and backticks expanded (unquoted delimiter)."""
        pieces: list[Piece] = []
        self._pieces(body, 0, len(body), pieces, mode="heredoc")
        return Word(pieces).shell.encode()

    def parameter(self, name: str) -> str | Unknown:
        if name == "0" and self.env.arg0 is not None and not self.env.arg0.unknown:
            return self.env.arg0.text
        if name.isdigit() or name in "@*#":
            pos = self.env.positional
            if pos is None:
                return Unknown(frozenset({"$" + name}))
            if name == "#":
                return str(len(pos))
            if name in "@*":
                if any(w.unknown for w in pos):
                    return Unknown(frozenset({"$" + name}))
                return " ".join(w.text for w in pos)
            idx = int(name)
            if idx == 0:
                w0 = self.env.arg0
                if w0 is None or w0.unknown:
                    return Unknown(frozenset({"$0"}))
                return w0.text
            if idx > len(pos):
                return ""
            w = pos[idx - 1]
            return Unknown(w.sources or frozenset({"$" + name})) if w.unknown else w.text
        if name == "PWD" and self.env.cwd:
            return self.env.cwd
        return self.env.vars.get(name, Unknown(frozenset({"$" + name})))

    # --- internals ------------------------------------------------------------

    def _ifs_pattern(self) -> str:
        ifs = self.env.vars.get("IFS", " \t\n")
        if isinstance(ifs, Unknown) or ifs == "":
            ifs = " \t\n"
        return "[" + re.escape(ifs) + "]+"

    def _split(self, word: Word) -> list[Word]:
        if not any(p.split for p in word.pieces):
            return [word]
        out: list[Word] = []
        cur: list[Piece] = []
        cur_has_content = False
        for p in word.pieces:
            if not (p.split and p.known):
                cur.append(p)
                cur_has_content = True
                continue
            fields = re.split(self._ifs_pattern(), p.text)
            for k, f in enumerate(fields):
                if k > 0 and cur_has_content:
                    out.append(Word(cur, raw=word.raw))
                    cur, cur_has_content = [], False
                if f:
                    cur.append(Piece(f, split=True))
                    cur_has_content = True
        if cur_has_content:
            out.append(Word(cur, raw=word.raw))
        return out

    def _subst_pieces(self, text: str, split: bool, out: list[Piece]) -> None:
        data = self._sub(text)
        if isinstance(data, Unknown):
            out.append(Piece("", known=False, split=split, sources=data.sources))
            return
        if len(data) > _MAX_VALUE:
            out.append(Piece("", known=False, split=split, sources=frozenset({"$(…)"})))
            return
        value = data.decode("utf-8", "replace").rstrip("\n")
        self._text_pieces(value, split, out)

    @staticmethod
    def _text_pieces(value: str, split: bool, out: list[Piece]) -> None:
        chunks = value.split(PLACEHOLDER)
        for k, chunk in enumerate(chunks):
            if k:
                out.append(Piece("", known=False, split=split))
            if chunk:
                out.append(Piece(chunk, split=split))

    def _value_pieces(self, value: str | Unknown, split: bool, out: list[Piece], name: str) -> None:
        if isinstance(value, Unknown):
            out.append(Piece("", known=False, split=split, sources=value.sources))
        else:
            self._text_pieces(value, split, out)

    def _pieces(self, s: str, i: int, end: int, out: list[Piece], mode: str) -> None:
        """Expand ``s[i:end]``; mode is ``plain``, ``double`` (inside "…") or ``heredoc``."""
        quoted = mode != "plain"
        lit: list[str] = []

        def flush() -> None:
            if lit:
                out.append(Piece("".join(lit)))
                lit.clear()

        while i < end:
            c = s[i]
            if c == "\\":
                nxt = s[i + 1] if i + 1 < end else ""
                if nxt == "\n":
                    i += 2
                elif not quoted or nxt in ("$`\\" + ('"' if mode == "double" else "")):
                    lit.append(nxt)
                    i += 2
                else:
                    lit.append("\\")
                    i += 1
            elif c == "'" and not quoted:
                j = s.find("'", i + 1, end)
                j = end if j < 0 else j
                lit.append(s[i + 1 : j])
                i = j + 1
            elif c == '"' and mode == "plain":
                flush()
                j = self._double_end(s, i, end)
                self._pieces(s, i + 1, max(i + 1, j - 1), out, "double")
                i = j
            elif c == '"' and mode == "double":
                i += 1  # stray closing quote inside a region we were given
            elif c == "`":
                flush()
                j = s.find("`", i + 1, end)
                while j > 0 and s[j - 1] == "\\":
                    j = s.find("`", j + 1, end)
                j = end if j < 0 else j
                inner = re.sub(r"\\([$`\\\"])", r"\1", s[i + 1 : j])
                self._subst_pieces(inner, not quoted, out)
                i = j + 1
            elif c == "$":
                j = scan_dollar(s, i)
                j = min(j, end)
                if j == i + 1:
                    lit.append("$")
                    i += 1
                    continue
                flush()
                self._dollar(s[i:j], quoted, out, mode)
                i = j
            else:
                lit.append(c)
                i += 1
        flush()

    @staticmethod
    def _double_end(s: str, i: int, end: int) -> int:
        return min(skip_double(s, i), end)

    def _dollar(self, tok: str, quoted: bool, out: list[Piece], mode: str) -> None:
        split = not quoted
        if tok.startswith("$'") and not quoted:
            body = tok[2:-1] if tok.endswith("'") and len(tok) >= 3 else tok[2:]
            out.append(Piece(decode_ansi_c(body)))
        elif tok.startswith("$'"):
            out.append(Piece(tok))  # inside "…", $'…' is literal text
        elif tok.startswith('$"'):
            self._pieces(tok, 2, max(2, len(tok) - 1), out, "double")
        elif tok.startswith("$(("):
            for inner in _arith_substitutions(tok):
                self._sub(inner)
            out.append(Piece("", known=False, split=split, sources=frozenset({"$(( ))"})))
        elif tok.startswith("$("):
            inner = tok[2 : len(tok) - 1 if tok.endswith(")") else len(tok)]
            self._subst_pieces(inner, split, out)
        elif tok.startswith("$["):
            out.append(Piece("", known=False, split=split, sources=frozenset({"$[ ]"})))
        elif tok.startswith("${"):
            body = tok[2 : len(tok) - 1 if tok.endswith("}") else len(tok)]
            self._braced(body, split, out)
        else:
            name = tok[1:]
            self._value_pieces(self.parameter(name), split or name in "@*", out, name)

    def _braced(self, body: str, split: bool, out: list[Piece]) -> None:
        if body.startswith("#") and body.endswith("[@]") and body[1:-3] in self.env.arrays:
            out.append(Piece(str(len(self.env.arrays[body[1:-3]]))))
            return
        if body.startswith("#") and len(body) > 1:
            value = self.parameter(body[1:])
            if isinstance(value, str):
                out.append(Piece(str(len(value))))
            else:
                out.append(Piece("", known=False, sources=value.sources))
            return
        if body.startswith("!"):
            out.append(Piece("", known=False, split=split, sources=frozenset({"${!}"})))
            return
        m = _PARAM.fullmatch(body)
        if not m:
            out.append(Piece("", known=False, split=split, sources=frozenset({"${}"})))
            return
        name, op = m.group(1), m.group(2)
        value = self.parameter(name)
        if name in "@*":
            split = True  # "$@" is one word per parameter even when quoted
        if op.startswith("[") and "]" in op:
            self._element(name, op, out)
            return
        if not op:
            self._value_pieces(value, split, out, name)
            return
        for prefix in (":-", ":=", ":+", ":?", "-", "=", "+", "?"):
            if op.startswith(prefix):
                self._default(name, value, prefix, op[len(prefix) :], split, out)
                return
        if isinstance(value, Unknown):
            out.append(Piece("", known=False, split=split, sources=value.sources))
            return
        result = self._transform(value, op)
        if result is None:
            out.append(Piece("", known=False, split=split, sources=frozenset({"$" + name})))
        else:
            self._text_pieces(result, split, out)

    def _element(self, name: str, op: str, out: list[Piece]) -> None:
        """``${a[@]}``, ``${a[*]}``, ``${a[N]}`` of an array the command defined."""
        index, _, rest = op[1:].partition("]")
        items = self.env.arrays.get(name)
        element = self.env.vars.get(f"{name}[{_strip_quotes(index)}]")
        if element is not None and not rest:
            self._value_pieces(element, True, out, name)
            return
        if items is None or rest:
            out.append(Piece("", known=False, split=True, sources=frozenset({"$" + name})))
            return
        if index in ("@", "*"):
            chosen = items
        elif index.lstrip("-").isdigit() and -len(items) <= int(index) < len(items):
            chosen = [items[int(index)]]
        else:
            chosen = []
        for k, w in enumerate(chosen):
            if k:
                out.append(Piece(" ", split=True))
            out.extend(Piece(p.text, p.known, True, p.sources) for p in w.pieces)

    def _default(
        self, name: str, value: str | Unknown, op: str, word: str, split: bool, out: list[Piece]
    ) -> None:
        colon = op.startswith(":")
        empty = isinstance(value, str) and (value == "" if colon else False)
        unset_or_unknown = isinstance(value, Unknown)
        alt: list[Piece] = []
        self._pieces(word, 0, len(word), alt, "double" if not split else "plain")
        kind = op[-1]
        if kind in "-=":
            # A variable the command never set is taken as unset: the default is
            # what an attacker would rely on.
            if unset_or_unknown or empty:
                out.extend(Piece(p.text, p.known, split, p.sources) for p in alt)
                if kind == "=":
                    w = Word(alt)
                    self.env.vars[name] = Unknown(w.sources) if w.unknown else w.text
            else:
                self._value_pieces(value, split, out, name)
        elif kind == "+":
            if isinstance(value, str) and not empty:
                out.extend(Piece(p.text, p.known, split, p.sources) for p in alt)
        elif isinstance(value, Unknown):  # ${X:?}: the shell stops if X is empty
            out.append(Piece("", known=False, split=split, sources=value.sources | {"${:?}"}))
        else:
            self._value_pieces(value, split, out, name)

    @staticmethod
    def _transform(value: str, op: str) -> str | None:
        if op.startswith(":"):
            m = re.fullmatch(r":\s*(-?\d+)\s*(?::\s*(-?\d+)\s*)?", op)
            if not m:
                return None
            off = int(m.group(1))
            start = off if off >= 0 else max(0, len(value) + off)
            if m.group(2) is None:
                return value[start:]
            ln = int(m.group(2))
            stop = start + ln if ln >= 0 else len(value) + ln
            return value[start:stop]
        if op.startswith("/"):
            mode = op[1:2] if op[1:2] in "/#%" else ""
            rest = op[1 + len(mode) :]
            pat, _, rep = rest.partition("/")
            if not pat:
                return value
            rx = _glob_regex(_strip_quotes(pat))
            rep = _strip_quotes(rep)
            if mode == "/":
                return re.sub(rx, lambda _m: rep, value)
            if mode == "#":
                return re.sub("^" + rx, lambda _m: rep, value, count=1)
            if mode == "%":
                return re.sub(rx + "$", lambda _m: rep, value, count=1)
            return re.sub(rx, lambda _m: rep, value, count=1)
        for prefix, longest, anchor in (("##", True, "^"), ("#", False, "^"), ("%%", True, "$"), ("%", False, "$")):
            if op.startswith(prefix):
                rx = _glob_regex(_strip_quotes(op[len(prefix) :]))
                if not longest:
                    rx = rx.replace(".*", ".*?")
                if anchor == "^":
                    return re.sub("^" + rx, "", value, count=1, flags=re.S)
                # Shortest suffix: try the shortest tail that matches.
                tails = range(len(value), -1, -1) if not longest else range(0, len(value) + 1)
                for k in tails:
                    if re.fullmatch(rx, value[k:], flags=re.S):
                        return value[:k]
                return value
        case_ops = {"^^": str.upper, ",,": str.lower, "^": lambda v: v[:1].upper() + v[1:],
                    ",": lambda v: v[:1].lower() + v[1:]}  # fmt: skip
        if op in case_ops:
            return case_ops[op](value)
        return None


def _strip_quotes(s: str) -> str:
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "'\"":
        return s[1:-1]
    return s.replace("\\", "")


def _arith_substitutions(tok: str) -> list[str]:
    return find_substitutions(tok[3:-2] if tok.endswith("))") else tok[3:])
