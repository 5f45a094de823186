"""A small quote-aware shell scanner: what bashlex does not do for us.

bashlex gives the structure (lists, pipelines, compound commands, words,
redirections), but it cannot parse some everyday bash (``[[ ]]``, ``case``,
``$(( ))``, ``(( ))``, C-style ``for``, arrays, ``time``, quoted here-document
delimiters), and it mangles ``$'…'`` words. This module finds where quoted
regions, expansions and substitutions end, rewrites the constructs bashlex
cannot read into equivalents it can (keeping every command substitution so it is
still checked), and splits unparseable text into simple commands as a last
resort.

Nothing here executes anything; every scanner stops at the end of the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "ARRAY_COMMAND",
    "ARRAY_PLACEHOLDER",
    "skip_backtick",
    "skip_double",
    "skip_single",
    "Tok",
    "find_substitutions",
    "lex",
    "match_paren",
    "rewrite_for_bashlex",
    "scan_dollar",
    "split_commands",
]

ARRAY_PLACEHOLDER = '"${__starling_array__}"'
ARRAY_COMMAND = "__starling_array"
"""``a=(x y)`` is rewritten as ``__starling_array a x y`` (``a+=(…)``: ``a+``)."""
_OPERATORS = (
    ";;&", ";;", ";&", "&&", "||", "|&", "&>>", "&>", "<<<", "<<-", "<<", ">>",
    "<&", ">&", "<>", ">|", "|", "&", ";", "(", ")", "<", ">",
)  # fmt: skip
_REDIRECTS = frozenset({"&>>", "&>", "<<<", "<<-", "<<", ">>", "<&", ">&", "<>", ">|", "<", ">"})
_OPCHARS = frozenset(";&|()<>")
_RESERVED_BEFORE_COMMAND = frozenset(
    {"then", "do", "else", "elif", "if", "while", "until", "!", "{", "time"}
)
_RESERVED = _RESERVED_BEFORE_COMMAND | {"}", "fi", "done", "case", "esac", "in", "function"}
_NAME_EQ = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=")
_QUOTED_HEREDOC = re.compile(r"<<(-?)[ \t]*(?:'([^'\n]+)'|\"([^\"\n]+)\"|\\(\w+))")


@dataclass(frozen=True, slots=True)
class Tok:
    """A token: ``kind`` is ``word``, ``op`` or ``nl``; ``start:end`` indexes the source."""

    kind: str
    text: str
    start: int
    end: int


def skip_single(src: str, i: int) -> int:
    j = src.find("'", i + 1)
    return len(src) if j < 0 else j + 1


def _skip_ansi(src: str, i: int) -> int:
    """``i`` at the quote after ``$``; return the index past the closing quote."""
    i += 1
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if c == "'":
            return i + 1
        i += 1
    return len(src)


def skip_double(src: str, i: int) -> int:
    i += 1
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        elif c == "$":
            i = scan_dollar(src, i)
        elif c == "`":
            i = skip_backtick(src, i)
        else:
            i += 1
    return len(src)


def skip_backtick(src: str, i: int) -> int:
    i += 1
    while i < len(src):
        c = src[i]
        if c == "\\":
            i += 2
        elif c == "`":
            return i + 1
        else:
            i += 1
    return len(src)


QUOTING = "\\'\"`"


def skip_quoted(src: str, i: int) -> int:
    """``src[i]`` is a backslash or an opening quote or backtick (one of
    ``QUOTING``); return the index past the escape or the quoted text."""
    c = src[i]
    if c == "\\":
        return i + 2
    if c == "'":
        return skip_single(src, i)
    if c == '"':
        return skip_double(src, i)
    return skip_backtick(src, i)


def _skip_brace(src: str, i: int) -> int:
    """``i`` at ``{`` of ``${``; return the index past the matching ``}``."""
    depth = 0
    while i < len(src):
        c = src[i]
        if c in QUOTING:
            i = skip_quoted(src, i)
            continue
        if c == "$" and i + 1 < len(src) and src[i + 1] in "({":
            i = scan_dollar(src, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(src)


def match_paren(src: str, i: int) -> int:
    """``src[i]`` is ``(``; return the index just past its matching ``)``, or
    ``len(src)`` when the text ends first. Quotes and expansions are skipped."""
    depth = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c in QUOTING:
            i = skip_quoted(src, i)
            continue
        if c == "$":
            nxt = scan_dollar(src, i)
            if nxt > i + 1:
                i = nxt
                continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def scan_dollar(src: str, i: int) -> int:
    """``src[i]`` is ``$``; return the index just past the expansion it starts
    (``i + 1`` when it is a literal dollar sign)."""
    n = len(src)
    if i + 1 >= n:
        return i + 1
    c = src[i + 1]
    if c == "'":
        return _skip_ansi(src, i + 1)
    if c == '"':
        return skip_double(src, i + 1)
    if c == "(":
        return match_paren(src, i + 1)
    if c == "{":
        return _skip_brace(src, i + 1)
    if c == "[":  # obsolete $[ arithmetic ]
        j = src.find("]", i + 2)
        return n if j < 0 else j + 1
    if c.isalpha() or c == "_":
        j = i + 2
        while j < n and (src[j].isalnum() or src[j] == "_"):
            j += 1
        return j
    if c.isdigit() or c in "@*#?$!-":
        return i + 2
    return i + 1


def find_substitutions(text: str) -> list[str]:
    """The inner text of every command and process substitution in ``text``
    (outside single quotes), outermost first; nested ones are found when the
    inner text is analysed in turn."""
    found: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == "'":
            i = skip_single(text, i)
        elif c == "`":
            end = skip_backtick(text, i)
            found.append(text[i + 1 : max(i + 1, end - 1)])
            i = end
        elif c == "$" and text.startswith("((", i + 1):
            # Arithmetic: no command of its own, but may hold substitutions.
            end = match_paren(text, i + 1)
            found.extend(find_substitutions(text[i + 3 : max(i + 3, end - 2)]))
            i = end
        elif c in "$<>" and i + 1 < n and text[i + 1] == "(":
            end = match_paren(text, i + 1)
            found.append(text[i + 2 : max(i + 2, end - 1)])
            i = end
        else:
            i += 1
    return found


def _heredoc_body_end(src: str, i: int, delim: str, strip_tabs: bool) -> int:
    """``i`` at the start of the body; return the index past the terminating line."""
    while i < len(src):
        nl = src.find("\n", i)
        line = src[i : len(src) if nl < 0 else nl]
        if (line.lstrip("\t") if strip_tabs else line) == delim:
            return len(src) if nl < 0 else nl + 1
        if nl < 0:
            return len(src)
        i = nl + 1
    return len(src)


def _unquote_simple(word: str) -> str:
    return word.replace("'", "").replace('"', "").replace("\\", "")


def lex(src: str) -> list[Tok]:
    """Split shell text into words, operators and newlines (comments and
    here-document bodies are skipped, quotes and expansions kept inside words)."""
    toks: list[Tok] = []
    pending: list[tuple[str, bool]] = []  # here-documents whose body starts at the next newline
    i = 0
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n and src[i + 1] == "\n":
            i += 2
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "\n":
            toks.append(Tok("nl", "\n", i, i + 1))
            i += 1
            for delim, strip in pending:
                i = _heredoc_body_end(src, i, delim, strip)
            pending.clear()
            continue
        if c == "#":
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        if c in _OPCHARS and not (c in "<>" and i + 1 < n and src[i + 1] == "("):
            op = next(o for o in _OPERATORS if src.startswith(o, i))
            toks.append(Tok("op", op, i, i + len(op)))
            i += len(op)
            if op in ("<<", "<<-"):
                # The delimiter is the next word; remember it for the body.
                j = i
                while j < n and src[j] in " \t":
                    j += 1
                k = _word_end(src, j)
                if k > j:
                    pending.append((_unquote_simple(src[j:k]), op == "<<-"))
            continue
        end = _word_end(src, i)
        toks.append(Tok("word", src[i:end], i, end))
        i = end
    return toks


def _word_end(src: str, i: int) -> int:
    n = len(src)
    start = i
    while i < n:
        c = src[i]
        if c in " \t\r\n":
            break
        if c in QUOTING:
            i = skip_quoted(src, i)
            continue
        if c == "$":
            i = scan_dollar(src, i)
            continue
        if c in "<>" and i + 1 < n and src[i + 1] == "(" and i == start:
            i = match_paren(src, i + 1)
            continue
        if c == "(" and _NAME_EQ.fullmatch(src[start:i]):
            i = match_paren(src, i)  # array assignment: name=( … )
            continue
        if c in _OPCHARS:
            break
        i += 1
    return min(i, n)


# --- rewrites -------------------------------------------------------------------


def _rewrite_arithmetic(src: str) -> tuple[str, list[str]]:
    """``$(( … ))`` → ``1``, outside single quotes; substitutions inside are kept aside."""
    out: list[str] = []
    extras: list[str] = []
    i = 0
    n = len(src)
    in_double = False
    while i < n:
        c = src[i]
        if c == "\\":
            out.append(src[i : i + 2])
            i += 2
        elif c == "'" and not in_double:
            j = skip_single(src, i)
            out.append(src[i:j])
            i = j
        elif c == '"':
            in_double = not in_double
            out.append(c)
            i += 1
        elif src.startswith("$((", i):
            end = match_paren(src, i + 1)
            extras.extend(find_substitutions(src[i + 3 : max(i + 3, end - 2)]))
            out.append("1")
            i = end
        elif src.startswith("$[", i):
            end = scan_dollar(src, i)
            out.append("1")
            i = end
        else:
            out.append(c)
            i += 1
    return "".join(out), extras


def _at_command_position(toks: list[Tok], k: int) -> bool:
    if k == 0:
        return True
    prev = toks[k - 1]
    if prev.kind == "nl":
        return True
    if prev.kind == "op":
        return prev.text not in _REDIRECTS
    return prev.text in _RESERVED_BEFORE_COMMAND and _at_command_position(toks, k - 1)


def _case_edit(src: str, toks: list[Tok], k: int) -> tuple[int, int, str] | None:
    """Rewrite the ``case`` starting at token ``k`` as a brace group of its bodies."""
    if k + 2 >= len(toks) or toks[k + 2].text != "in":
        return None
    subject = toks[k + 1].text
    bodies: list[str] = []
    j = k + 3
    while j < len(toks):
        while j < len(toks) and toks[j].kind == "nl":
            j += 1
        if j >= len(toks):
            return None
        if toks[j].kind == "word" and toks[j].text == "esac":
            body = "\n:\n".join(b for b in bodies if b.strip()) or ":"
            return toks[k].start, toks[j].end, f"{{ : {subject}\n{body}\n}}"
        if toks[j].text == "(":
            j += 1
        while j < len(toks) and not (toks[j].kind == "op" and toks[j].text == ")"):
            j += 1  # the pattern
        if j >= len(toks):
            return None
        body_start = toks[j].end
        j += 1
        depth = 0
        while j < len(toks):
            t = toks[j]
            if t.kind == "word" and t.text == "case" and _at_command_position(toks, j):
                depth += 1
            elif t.kind == "word" and t.text == "esac":
                if depth == 0:
                    break
                depth -= 1
            elif t.kind == "op" and t.text in (";;", ";&", ";;&") and depth == 0:
                break
            j += 1
        if j >= len(toks):
            return None
        bodies.append(src[body_start : toks[j].start])
        if toks[j].kind == "op":
            j += 1
    return None


def _token_edits(src: str) -> tuple[list[tuple[int, int, str]], list[str]]:
    toks = lex(src)
    edits: list[tuple[int, int, str]] = []
    extras: list[str] = []
    taken = 0  # end of the last edit, so edits never overlap
    for k, t in enumerate(toks):
        if t.start < taken:
            continue
        cmdpos = _at_command_position(toks, k)
        if t.kind == "word" and t.text == "[[" and cmdpos:
            end = next((u for u in toks[k + 1 :] if u.kind == "word" and u.text == "]]"), None)
            if end is not None:
                extras.extend(find_substitutions(src[t.end : end.start]))
                edits.append((t.start, end.end, "true"))
                taken = end.end
        elif t.kind == "op" and t.text == "(" and cmdpos and src.startswith("((", t.start):
            end_i = match_paren(src, t.start)
            extras.extend(find_substitutions(src[t.start + 2 : max(t.start + 2, end_i - 2)]))
            edits.append((t.start, end_i, "true"))
            taken = end_i
        elif t.kind == "word" and t.text == "for" and src[t.end :].lstrip().startswith("(("):
            start = src.index("((", t.end)
            end_i = match_paren(src, start)
            extras.extend(find_substitutions(src[start:end_i]))
            edits.append((start, end_i, "_ in 1"))
            taken = end_i
        elif t.kind == "word" and cmdpos and t.text in ("time", "coproc"):
            end_i = t.end
            if t.text == "time" and k + 1 < len(toks) and toks[k + 1].text == "-p":
                end_i = toks[k + 1].end
            edits.append((t.start, end_i, ""))
            taken = end_i
        elif t.kind == "word" and cmdpos and t.text == "select":
            edits.append((t.start, t.end, "for"))
            taken = t.end
        elif t.kind == "word" and cmdpos and t.text == "case":
            edit = _case_edit(src, toks, k)
            if edit is not None:
                extras.extend(find_substitutions(toks[k + 1].text))
                edits.append(edit)
                taken = edit[1]
        elif t.kind == "word" and "=(" in t.text:
            m = _NAME_EQ.match(t.text)
            if m and t.text[m.end() :].startswith("("):
                inner = t.text[m.end() + 1 : -1 if t.text.endswith(")") else len(t.text)]
                if cmdpos and "[" not in m.group(0):
                    # A bare array assignment becomes a pseudo-command the analyser knows.
                    items = " ".join(u.text for u in lex(inner) if u.kind == "word")
                    name = m.group(0)[:-1]
                    edits.append((t.start, t.end, f"{ARRAY_COMMAND} {name} {items}"))
                else:
                    extras.extend(find_substitutions(inner))
                    edits.append((t.start, t.end, t.text[: m.end()] + ARRAY_PLACEHOLDER))
                taken = t.end
    return edits, extras


def rewrite_for_bashlex(src: str) -> tuple[str, list[str]]:
    """One round of rewriting what bashlex cannot parse into what it can.

    :returns: the new text and the inner text of every command substitution the
        rewrite removed (arithmetic, ``[[ ]]`` tests), to be checked on their own.
    """
    text, extras = _rewrite_arithmetic(src)
    text = _QUOTED_HEREDOC.sub(lambda m: f"<<{m.group(1)}{m.group(2) or m.group(3) or m.group(4)}", text)
    edits, more = _token_edits(text)
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text, extras + more


def split_commands(src: str) -> list[tuple[list[str], list[tuple[str, str]]]]:
    """Last resort for text no parser reads: split it into simple commands.

    :returns: for each command, its raw words and its ``(operator, raw target)``
        redirections; reserved words and function headers are dropped.
    """
    commands: list[tuple[list[str], list[tuple[str, str]]]] = []
    words: list[str] = []
    redirects: list[tuple[str, str]] = []
    toks = lex(src)
    k = 0
    while k < len(toks):
        t = toks[k]
        if t.kind == "op" and t.text in _REDIRECTS:
            target = toks[k + 1].text if k + 1 < len(toks) and toks[k + 1].kind == "word" else ""
            if words and words[-1].isdigit() and toks[k - 1].end == t.start:
                words.pop()  # the fd number of 2>file
            redirects.append((t.text, target))
            k += 2 if target else 1
            continue
        if t.kind in ("op", "nl"):
            if words or redirects:
                commands.append((words, redirects))
            words, redirects = [], []
            k += 1
            continue
        if not words and t.text in _RESERVED:
            k += 1
            continue
        words.append(t.text)
        k += 1
    if words or redirects:
        commands.append((words, redirects))
    return commands
