"""Programs whose output the analyser can compute from their arguments and input.

``echo``, ``printf``, ``cat``, ``base64 -d``, ``base32 -d``, ``xxd -r -p``,
``rev``, ``tr``, ``gunzip``/``bunzip2``/``unxz``, ``openssl base64 -d``,
``sed 's/…/…/'``, ``awk '{print …}'``, ``which``: :func:`data_output` computes
what they print, so ``echo … | base64 -d | sh`` is decoded and the decoded
script checked in turn. Everything else prints :class:`~._expand.Unknown` data
that remembers which programs it came through.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import lzma
import posixpath
import re
import zlib

from ._expand import PLACEHOLDER, Unknown, Word, decode_ansi_c, decode_echo_escapes

__all__ = ["data_output"]

Data = bytes | Unknown
_MAX_DATA = 1 << 20
_MAX_ITEMS = 64


def _bre_to_python(pattern: str) -> str:
    """A sed basic regular expression as a Python one."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append(nxt if nxt in "(){}+?|" else "\\" + nxt)
            i += 2
            continue
        out.append("\\" + c if c in "(){}+?|" else c)
        i += 1
    return "".join(out)


def _sed(args: list[Word], stdin: Data) -> Data:
    """``sed 's/a/b/g'`` on known input; anything fancier is unknown."""
    texts = [a.text for a in args]
    scripts = [texts[k + 1] for k, t in enumerate(texts[:-1]) if t == "-e"]
    rest = [t for k, t in enumerate(texts) if not t.startswith("-") and (k == 0 or texts[k - 1] != "-e")]
    if not scripts and rest:
        scripts, rest = [rest[0]], rest[1:]
    if isinstance(stdin, Unknown) or rest or len(scripts) != 1 or any(
        t.startswith("-") and t not in ("-e", "-E", "-r") for t in texts
    ):
        return Unknown(frozenset({"sed"}) | (stdin.sources if isinstance(stdin, Unknown) else frozenset()))
    script = scripts[0]
    m = re.fullmatch(r"s(.)((?:\\.|(?!\1).)*)\1((?:\\.|(?!\1).)*)\1([gI0-9]*)", script, re.S)
    if not m:
        return Unknown(frozenset({"sed"}))
    extended = "-E" in texts or "-r" in texts
    try:
        rx = re.compile(m.group(2) if extended else _bre_to_python(m.group(2)), re.I if "I" in m.group(4) else 0)
    except re.error:
        return Unknown(frozenset({"sed"}))
    rep = m.group(3)

    def replacement(found: re.Match[str]) -> str:
        out, i = [], 0
        while i < len(rep):
            if rep[i] == "\\" and i + 1 < len(rep):
                out.append(found.group(int(rep[i + 1])) or "" if rep[i + 1].isdigit() else rep[i + 1])
                i += 2
            elif rep[i] == "&":
                out.append(found.group(0))
                i += 1
            else:
                out.append(rep[i])
                i += 1
        return "".join(out)

    count = 0 if "g" in m.group(4) else 1
    lines = stdin.decode("utf-8", "replace").split("\n")
    return "\n".join(rx.sub(replacement, line, count=count) for line in lines).encode()


def _awk(args: list[Word], stdin: Data) -> Data:
    """``awk '{print}'`` / ``'{print $2, $1}'`` on known input; anything else is unknown."""
    texts = [a.text for a in args]
    sep = None
    if len(texts) >= 2 and texts[0] == "-F":
        sep, texts = texts[1], texts[2:]
    elif texts and texts[0].startswith("-F") and len(texts[0]) > 2:
        sep, texts = texts[0][2:], texts[1:]
    m = re.fullmatch(r"\s*\{\s*print((?:\s*(?:\$\d+|\"[^\"]*\")\s*,?)*)\s*;?\s*\}\s*", texts[0]) if len(texts) == 1 else None
    if m is None or isinstance(stdin, Unknown):
        return Unknown(frozenset({"awk"}) | (stdin.sources if isinstance(stdin, Unknown) else frozenset()))
    items = re.findall(r'(\$\d+|"[^"]*"|,)', m.group(1))
    out_lines = []
    for line in stdin.decode("utf-8", "replace").split("\n"):
        if not line:
            continue
        fields = line.split(sep) if sep else line.split()
        if not items:
            out_lines.append(line)
            continue
        parts = []
        for it in items:
            if it == ",":
                parts.append(" ")
            elif it.startswith("$"):
                n = int(it[1:])
                parts.append(line if n == 0 else (fields[n - 1] if n <= len(fields) else ""))
            else:
                parts.append(it[1:-1])
        out_lines.append("".join(parts))
    return ("\n".join(out_lines) + "\n").encode()


# --- data --------------------------------------------------------------------------


def _words_text(words: list[Word]) -> str:
    return " ".join(w.shell for w in words)


def _echo(args: list[Word]) -> bytes:
    newline, escapes = True, False
    i = 0
    while i < len(args) and re.fullmatch(r"-[neE]+", args[i].text):
        newline &= "n" not in args[i].text
        escapes = ("e" in args[i].text) or (escapes and "E" not in args[i].text)
        i += 1
    text = _words_text(args[i:])
    if escapes:
        text, stop = decode_echo_escapes(text)
        if stop:
            newline = False
    return (text + ("\n" if newline else "")).encode("utf-8", "surrogatepass")


def _printf(args: list[Word]) -> bytes:
    if args and args[0].text == "-v":
        return b""
    if args and args[0].text == "--":
        args = args[1:]
    if not args:
        return b""
    fmt, values = args[0].shell, [a.shell for a in args[1:]]
    fmt = decode_ansi_c(fmt)  # a printf format takes \NNN octal without the leading 0
    out: list[str] = []
    spec = re.compile(r"%(?:%|[-+ #0]*\d*(?:\.\d+)?([sbdiouxXcqfeEgG]))")
    idx = 0
    for _round in range(_MAX_ITEMS):
        def repl(m: re.Match[str]) -> str:
            nonlocal idx
            if m.group(0) == "%%":
                return "%"
            value = values[idx] if idx < len(values) else ""
            idx += 1
            if m.group(1) == "b":
                return decode_echo_escapes(value)[0]
            return value

        out.append(spec.sub(repl, fmt))
        if idx >= len(values) or not spec.search(fmt):
            break
    return "".join(out).encode("utf-8", "surrogatepass")


def _tr_set(spec: str) -> str:
    spec, _ = decode_echo_escapes(spec.replace("\\\\", "\\"))
    classes = {"[:lower:]": "abcdefghijklmnopqrstuvwxyz", "[:upper:]": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
               "[:digit:]": "0123456789", "[:space:]": " \t\n\r\f\v"}  # fmt: skip
    for name, chars in classes.items():
        spec = spec.replace(name, chars)
    out: list[str] = []
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-" and ord(spec[i]) <= ord(spec[i + 2]):
            out.extend(chr(c) for c in range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.append(spec[i])
            i += 1
    return "".join(out)


def _tr(args: list[Word], data: bytes) -> Data:
    flags = [a.text for a in args if a.text.startswith("-") and len(a.text) > 1]
    sets = [a.text for a in args if not (a.text.startswith("-") and len(a.text) > 1)]
    text = data.decode("latin-1")
    if any("d" in f for f in flags) and sets:
        drop = set(_tr_set(sets[0]))
        return "".join(c for c in text if c not in drop).encode("latin-1", "replace")
    if len(sets) < 2 or any(f != "--" for f in flags):
        return Unknown(frozenset({"tr"}))
    src, dst = _tr_set(sets[0]), _tr_set(sets[1])
    if not dst:
        return Unknown(frozenset({"tr"}))
    dst = dst + dst[-1] * max(0, len(src) - len(dst))
    table = str.maketrans(src, dst[: len(src)])
    return text.translate(table).encode("latin-1", "replace")


def _decode_b64(data: bytes, alphabet: str) -> Data:
    cleaned = re.sub(rb"[^A-Za-z0-9+/=_-]", b"", data)
    try:
        if alphabet == "32":
            return base64.b32decode(cleaned + b"=" * (-len(cleaned) % 8))
        padded = cleaned + b"=" * (-len(cleaned) % 4)
        if b"-" in cleaned or b"_" in cleaned:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded)
    except (binascii.Error, ValueError):
        return Unknown(frozenset({"base64"}))


def _decompress(prog: str, data: bytes) -> Data:
    try:
        if prog in ("gunzip", "zcat", "gzip"):
            return gzip.decompress(data)[:_MAX_DATA]
        if prog in ("bunzip2", "bzcat", "bzip2"):
            return bz2.decompress(data)[:_MAX_DATA]
        if prog in ("unxz", "xzcat", "xz", "lzcat", "unlzma"):
            return lzma.decompress(data)[:_MAX_DATA]
        if prog in ("zlib-flate",):
            return zlib.decompress(data)[:_MAX_DATA]
    except (OSError, EOFError, ValueError, lzma.LZMAError, zlib.error):
        pass
    return Unknown(frozenset({prog}))


_TRANSFORMS = frozenset(
    {"base64", "base32", "xxd", "rev", "tr", "gunzip", "zcat", "gzip", "bunzip2", "bzcat",
     "bzip2", "unxz", "xzcat", "xz", "lzcat", "unlzma", "openssl", "zlib-flate"}
)  # fmt: skip
_PASSTHROUGH = frozenset({"cat", "tee", "head", "tail", "dd", "pv", "buffer", "stdbuf", "cut"})


_LS_PLAIN = frozenset({"-1", "-a", "-A", "-U", "-f", "--all", "--almost-all"})
_FIND_PLAIN = frozenset({"-xdev", "-mount", "-depth", "-print", "-print0", "-H", "-L", "-P", "-d"})


def _listing(prog: str, args: list[Word]) -> Data:
    """``ls DIR`` / ``find DIR`` with no filter: DIR's entries, written as the glob ``DIR/*``.

    ``ls`` prints bare names, which name DIR's entries when run from DIR (the
    agent's own directory is ``/``); either way what xargs gets is "everything in
    DIR", and ``ls / | xargs rm -rf`` is ``rm -rf /*``. Anything filtered, globbed
    or relative stays unknown."""
    texts = [a.text for a in args]
    if any(a.unknown for a in args):
        return Unknown(frozenset({prog}))
    if prog == "ls":
        operands = [t for t in texts if not t.startswith("-")]
        flags = [t for t in texts if t.startswith("-")]
        if not operands and set(flags) <= _LS_PLAIN:
            return b"*\n"  # the working directory's entries, resolved where they are used
        if len(operands) != 1 or not set(flags) <= _LS_PLAIN:
            return Unknown(frozenset({prog}))
        roots = operands
        mindepth = 1
        sep = "\n"
    else:
        i = 0
        while i < len(texts) and texts[i] in ("-H", "-L", "-P"):
            i += 1
        roots = []
        while i < len(texts) and not texts[i].startswith("-") and texts[i] not in ("(", "!"):
            roots.append(texts[i])
            i += 1
        mindepth = 0
        sep = "\n"
        rest = texts[i:]
        k = 0
        while k < len(rest):
            t = rest[k]
            if t in ("-maxdepth", "-mindepth", "-type") and k + 1 < len(rest):
                if t == "-mindepth" and rest[k + 1].isdigit():
                    mindepth = int(rest[k + 1])
                if t == "-maxdepth" and rest[k + 1] == "0":
                    return Unknown(frozenset({prog}))  # just the roots: not their entries
                k += 2
                continue
            if t not in _FIND_PLAIN:
                return Unknown(frozenset({prog}))
            sep = "\0" if t == "-print0" else sep
            k += 1
    if not roots or any(not r.startswith("/") or any(c in r for c in "*?[") for r in roots):
        return Unknown(frozenset({prog}))
    lines = []
    for r in roots:
        if mindepth == 0:
            lines.append(r)
        lines.append(r.rstrip("/") + "/*")
    return (sep.join(lines) + sep).encode()


_INIT_NAMES = frozenset({"init", "systemd", "1", ".", ".*", "^", "^.*"})


def _process_ids(prog: str, args: list[Word]) -> Data:
    """``pgrep -u root``, ``pgrep systemd``, ``pidof init``: lists that include PID 1
    (init runs as root), written as ``1`` so that ``kill -9 $(pgrep -u root)`` is seen
    to signal init. Other lists stay unknown."""
    texts = [a.text for a in args]
    if any(a.unknown for a in args):
        return Unknown(frozenset({prog}))
    patterns = [t for k, t in enumerate(texts) if not t.startswith("-") and (k == 0 or texts[k - 1] not in ("-u", "-U", "-g", "-G", "-P", "-t", "-s", "--euid", "--uid", "-d"))]
    users = [texts[k + 1] for k, t in enumerate(texts[:-1]) if t in ("-u", "-U", "--euid", "--uid")]
    users += [t.split("=", 1)[1] for t in texts if t.startswith(("--euid=", "--uid="))]
    root_user = any(u in ("root", "0") or u.startswith(("root,", "0,")) or ",root" in u or ",0" in u for u in users)
    if prog == "pidof":
        return b"1\n" if any(p in ("init", "systemd") for p in patterns) else Unknown(frozenset({prog}))
    if (root_user and not patterns) or any(p in _INIT_NAMES for p in patterns):
        return b"1\n"
    return Unknown(frozenset({prog}))


def _path_part(prog: str, args: list[Word]) -> Data:
    """``dirname PATH`` / ``basename PATH [SUFFIX]`` of known paths."""
    texts = [a.text for a in args if not a.text.startswith("-")]
    if any(a.unknown for a in args) or not texts:
        return Unknown(frozenset({prog}))
    if prog == "dirname":
        return "".join(posixpath.dirname(t.rstrip("/") or "/") or "." for t in texts).encode() + b"\n"
    name = posixpath.basename(texts[0].rstrip("/")) or "/"
    if len(texts) > 1 and name.endswith(texts[1]) and name != texts[1]:
        name = name[: -len(texts[1])]
    return (name + "\n").encode()


def data_output(prog: str, args: list[Word], stdin: Data) -> Data:
    """What ``prog args`` would write to its standard output, when that can be known.

    :param stdin: what it reads (bytes, or :class:`Unknown`).
    :returns: bytes, or :class:`Unknown` naming the programs the data came through.
    """
    texts = [a.text for a in args]
    if prog == "echo":
        return _echo(args)
    if prog == "printf":
        return _printf(args)
    if prog in ("true", "false", ":", "cd", "export", "alias", "unset", "set", "shift"):
        return b""
    if prog == "which" or (prog in ("command", "type") and any(t in ("-v", "-P", "-p") for t in texts)):
        names = [t for t in texts if not t.startswith("-")]
        return "".join(f"/usr/bin/{n}\n" for n in names if "/" not in n).encode()
    if prog == "sed":
        return _sed(args, stdin)
    if prog in ("awk", "gawk", "mawk"):
        return _awk(args, stdin)
    if prog in ("ls", "find"):
        return _listing(prog, args)
    if prog in ("pgrep", "pidof"):
        return _process_ids(prog, args)
    if prog in ("dirname", "basename"):
        return _path_part(prog, args)
    if prog in ("yes",):
        return ((" ".join(texts) or "y") + "\n").encode() * 4
    if prog in _PASSTHROUGH:
        operands = [t for t in texts if not t.startswith("-") or t == "-"]
        if prog in ("cat", "head", "tail", "cut") and any(o != "-" for o in operands):
            return Unknown(frozenset({prog}))
        if prog == "dd" and any(t.startswith("if=") for t in texts):
            return Unknown(frozenset({prog}))
        return stdin
    if prog not in _TRANSFORMS:
        return Unknown(frozenset({prog}))
    if isinstance(stdin, Unknown):
        return Unknown(stdin.sources | {prog})
    data = stdin[:_MAX_DATA]
    if PLACEHOLDER.encode() in data:
        return Unknown(frozenset({prog, "$?"}))
    decoding = any(t in ("-d", "--decode", "-D") or re.fullmatch(r"-[a-zA-Z]*d[a-zA-Z]*", t) for t in texts)
    if prog in ("base64", "base32"):
        if any(not t.startswith("-") for t in texts):
            return Unknown(frozenset({prog}))
        if not decoding:
            encoder = base64.b64encode if prog == "base64" else base64.b32encode
            return encoder(data) + b"\n"
        return _decode_b64(data, "32" if prog == "base32" else "64")
    if prog == "openssl":
        if texts[:1] in (["base64"], ["enc"]) and "-d" in texts:
            return _decode_b64(data, "64")
        return Unknown(frozenset({prog}))
    if prog == "xxd":
        if "-r" in texts or any(re.fullmatch(r"-r?p?s?r", t) for t in texts):
            try:
                return binascii.unhexlify(re.sub(rb"[^0-9A-Fa-f]", b"", data))
            except (binascii.Error, ValueError):
                return Unknown(frozenset({prog}))
        return Unknown(frozenset({prog}))
    if prog == "rev":
        lines = data.decode("utf-8", "replace").split("\n")
        return "\n".join(line[::-1] for line in lines).encode()
    if prog == "tr":
        return _tr(args, data)
    if prog in ("gzip", "bzip2", "xz") and not decoding:
        return Unknown(frozenset({prog}))
    return _decompress(prog, data)
