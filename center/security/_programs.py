"""What the analyser knows of particular programs.

Two tables:

* **wrappers** — programs that run another command or script: ``sudo``, ``env``,
  ``nohup``, ``timeout``, ``xargs``, ``find -exec``, ``sh -c``, ``eval``, ``ssh``,
  ``su -c``, ``watch``, ``at``… :func:`unwrap` says what they would run.
* **data** — programs whose output can be computed from their arguments and
  input: ``echo``, ``printf``, ``cat``, ``base64 -d``, ``xxd -r -p``, ``rev``,
  ``tr``, ``gunzip``… :func:`data_output` computes it, so ``echo … | base64 -d |
  sh`` is decoded and the decoded script checked.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import gzip
import lzma
import re
import zlib
from dataclasses import dataclass, field

from ._expand import PLACEHOLDER, Piece, Unknown, Word, decode_ansi_c, decode_echo_escapes

__all__ = ["SHELLS", "Inner", "data_output", "foreign_shellouts", "program_name", "unwrap"]

Data = bytes | Unknown

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "rbash", "yash", "posh", "ksh93"})
_SCRIPTING = {
    "python": ("-c",), "python2": ("-c",), "python3": ("-c",), "perl": ("-e", "-E"),
    "ruby": ("-e",), "node": ("-e", "--eval"), "nodejs": ("-e",), "php": ("-r",),
    "lua": ("-e",), "awk": (), "gawk": (), "mawk": (),
}  # fmt: skip
_MAX_DATA = 1 << 20
_MAX_ITEMS = 64


@dataclass(slots=True)
class Inner:
    """Something a wrapper would run."""

    label: str
    argv: list[Word] | None = None  # a command line
    script: Word | None = None  # shell text (sh -c STRING, eval, ssh HOST CMD)
    positional: list[Word] | None = None  # $0 $1 … for a script
    stdin_script: bool = False  # the wrapper runs its standard input as a script
    file_script: Word | None = None  # the wrapper runs this file as a script
    stdin: list[Word] | None = field(default=None)  # replaces stdin (xargs consumed it)


def program_name(word: Word) -> str:
    """The program a command word names: ``/usr/bin/rm`` → ``rm``."""
    text = word.text
    return text.rsplit("/", 1)[-1] if "/" in text else text


def _skip_options(
    args: list[Word],
    short_with_arg: str = "",
    long_with_arg: frozenset[str] = frozenset(),
    *,
    skip_assignments: bool = False,
) -> int:
    """Index of the first operand after the options (and ``NAME=VALUE`` if asked)."""
    i = 0
    while i < len(args):
        t = args[i].text
        if t == "--":
            return i + 1
        if skip_assignments and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", t):
            i += 1
            continue
        if t.startswith("--") and len(t) > 2:
            i += 2 if t in long_with_arg else 1
            continue
        if t.startswith("-") and len(t) > 1 and not args[i].unknown:
            letters = t[1:]
            k = next((j for j, ch in enumerate(letters) if ch in short_with_arg), -1)
            i += 2 if k == len(letters) - 1 else 1
            continue
        return i
    return i


def _joined(words: list[Word]) -> Word:
    pieces: list[Piece] = []
    for k, w in enumerate(words):
        if k:
            pieces.append(Piece(" "))
        pieces.extend(w.pieces)
    return Word(pieces)


def _shell(name: str, args: list[Word]) -> Inner | None:
    command_mode = stdin_mode = False
    i = 0
    while i < len(args):
        t = args[i].text
        if t in ("-", "--"):
            i += 1
            break
        if t in ("-o", "+o", "-O", "+O", "--rcfile", "--init-file"):
            i += 2
            continue
        if t.startswith("--"):
            i += 1
            continue
        if (t.startswith("-") or t.startswith("+")) and len(t) > 1 and not args[i].unknown:
            command_mode |= "c" in t[1:]
            stdin_mode |= "s" in t[1:]
            i += 1
            continue
        break
    rest = args[i:]
    if command_mode:
        if not rest:
            return None
        return Inner(f"{name} -c", script=rest[0], positional=rest[1:] or None)
    if rest and not stdin_mode:
        return Inner(f"{name} FILE", file_script=rest[0], positional=rest[1:])
    return Inner(f"{name} <stdin", stdin_script=True, positional=rest or None)


def _env(args: list[Word]) -> Inner | None:
    i = 0
    while i < len(args):
        t = args[i].text
        if t in ("-S", "--split-string") and i + 1 < len(args):
            return Inner("env -S", script=_joined([args[i + 1], *args[i + 2 :]]))
        if t.startswith("--split-string="):
            first = Word([Piece(t.split("=", 1)[1])])
            return Inner("env -S", script=_joined([first, *args[i + 1 :]]))
        if t.startswith("-S") and len(t) > 2:
            return Inner("env -S", script=_joined([Word([Piece(t[2:])]), *args[i + 1 :]]))
        if t == "--":
            i += 1
            break
        if t in ("-u", "-C", "--unset", "--chdir"):
            i += 2
        elif t.startswith("-") and len(t) > 1:
            i += 1
        elif re.match(r"[A-Za-z_][A-Za-z0-9_]*=", t):
            i += 1
        else:
            break
    while i < len(args) and re.match(r"[A-Za-z_][A-Za-z0-9_]*=", args[i].text):
        i += 1
    return Inner("env", argv=args[i:]) if i < len(args) else None


def _su(name: str, args: list[Word]) -> Inner | None:
    """su / runuser: ``-c CMD`` is shell text; ``runuser -u USER CMD…`` is a command."""
    i = 0
    user_given = False
    while i < len(args):
        t = args[i].text
        if t in ("-c", "--command", "--session-command") and i + 1 < len(args):
            return Inner(f"{name} -c", script=args[i + 1])
        for long in ("--command=", "--session-command="):
            if t.startswith(long):
                return Inner(f"{name} -c", script=Word([Piece(t[len(long) :])]))
        if t == "-u" and name == "runuser" and i + 1 < len(args):
            rest = args[i + 2 :]
            if rest and rest[0].text == "--":
                rest = rest[1:]
            return Inner(f"{name} -u", argv=rest) if rest else None
        if t in ("-s", "-g", "-G", "--shell", "--group", "--supp-group", "-w"):
            i += 2
            continue
        if t == "--":
            i += 1
            continue
        if t.startswith("-") and len(t) > 1 and "c" in t[1:] and not t.startswith("--"):
            if i + 1 < len(args):
                return Inner(f"{name} -c", script=args[i + 1])
        if t.startswith("-"):
            i += 1
            continue
        if not user_given:
            user_given = True
            i += 1
            continue
        i += 1
    return None


def _xargs(args: list[Word], stdin: Data) -> list[Inner]:
    i = 0
    replace: str | None = None
    sep: str | None = None
    while i < len(args):
        t = args[i].text
        if t == "--":
            i += 1
            break
        if t == "-I" and i + 1 < len(args):
            replace = args[i + 1].text
            i += 2
        elif t.startswith("-I") and len(t) > 2:
            replace = t[2:]
            i += 1
        elif t == "-i" or t.startswith("-i") or t.startswith("--replace"):
            replace = t.split("=", 1)[1] if "=" in t else (t[2:] or "{}")
            i += 1
        elif t in ("-0", "--null"):
            sep = "\0"
            i += 1
        elif t in ("-d", "--delimiter") and i + 1 < len(args):
            sep = args[i + 1].text.encode().decode("unicode_escape", "replace") or None
            i += 2
        elif t in ("-n", "-L", "-P", "-s", "-a", "-E", "-l"):
            i += 2
        elif t.startswith("-") and len(t) > 1:
            i += 1
        else:
            break
    cmd = args[i:] or [Word.of("echo")]
    if isinstance(stdin, Unknown):
        items = [Word([Piece("", known=False, sources=stdin.sources | {"xargs"})])]
    else:
        text = stdin.decode("utf-8", "replace")
        parts = text.split(sep) if sep else text.split()
        items = [Word([Piece(p)]) for p in parts if p][:_MAX_ITEMS]
    if not items:
        return []
    if replace:
        return [
            Inner("xargs", argv=[_replace(w, replace, item) for w in cmd], stdin=[])
            for item in items[:16]
        ]
    return [Inner("xargs", argv=cmd + items)]


def _replace(word: Word, needle: str, value: Word) -> Word:
    if needle not in word.text or word.unknown:
        return word
    chunks = word.text.split(needle)
    pieces: list[Piece] = []
    for k, chunk in enumerate(chunks):
        if k:
            pieces.extend(value.pieces)
        if chunk:
            pieces.append(Piece(chunk))
    return Word(pieces, raw=word.raw)


_FIND_ACTIONS = frozenset({"-exec", "-execdir", "-ok", "-okdir"})
_FIND_HARMLESS = frozenset(
    {"-depth", "-xdev", "-mount", "-maxdepth", "-mindepth", "-follow", "-noleaf", "-print",
     "-print0", "-delete", "-H", "-L", "-P", "-d"}
)  # fmt: skip


def _find(args: list[Word]) -> list[Inner]:
    roots: list[Word] = []
    i = 0
    while i < len(args) and args[i].text in ("-H", "-L", "-P"):
        i += 1
    while i < len(args) and not args[i].text.startswith("-") and args[i].text not in ("(", "!"):
        roots.append(args[i])
        i += 1
    filtered = False
    inners: list[Inner] = []
    while i < len(args):
        t = args[i].text
        if t in _FIND_ACTIONS:
            j = i + 1
            while j < len(args) and args[j].text not in (";", "+"):
                j += 1
            cmd = args[i + 1 : j]
            if len(roots) == 1 and not filtered:
                target = roots[0]
            else:
                target = Word([Piece("", known=False, sources=frozenset({"find"}))])
            if cmd:
                inners.append(Inner(f"find {t}", argv=[_replace(w, "{}", target) for w in cmd]))
            i = j + 1
            continue
        if t in ("-name", "-iname", "-path", "-ipath", "-wholename") and i + 1 < len(args) and args[i + 1].text == "*":
            i += 2  # matches everything: not a filter
            continue
        if t.startswith("-") and t not in _FIND_HARMLESS:
            filtered = True
        elif t in ("(", "!", "-not", "-o", "-or"):
            filtered = True
        i += 1
    return inners


def _parallel(args: list[Word]) -> list[Inner]:
    texts = [a.text for a in args]
    if ":::" not in texts:
        return []
    k = texts.index(":::")
    cmd = args[_skip_options(args[:k], "jSP", frozenset({"--jobs", "-j"})) : k]
    items = [a for a in args[k + 1 :] if a.text not in (":::", "::::")][:16]
    if not cmd:
        return []
    if any("{}" in w.text for w in cmd):
        return [Inner("parallel", argv=[_replace(w, "{}", it) for w in cmd]) for it in items]
    return [Inner("parallel", argv=cmd + [it]) for it in items]


def _foreign_shellouts(prog: str, args: list[Word]) -> list[Inner]:
    """Shell commands quoted inside a one-line python/perl/ruby/awk program."""
    base = prog.rstrip("0123456789.") if prog.startswith("python") else prog
    flags = _SCRIPTING.get(base, ())
    for k, a in enumerate(args):
        if a.text in flags and k + 1 < len(args):
            return foreign_shellouts(prog, args[k + 1].text)
        if base.endswith("awk") and not a.text.startswith("-"):
            return foreign_shellouts(prog, a.text)
    return []


_SHELLOUT = re.compile(
    r"""(?:system|popen|exec[lv]?p?e?|spawn\w*|call|run|check_output|check_call|Popen|getoutput"""
    r"""|getstatusoutput|execSync|spawnSync|shell_exec|passthru|proc_open)\s*\(\s*"""
    r"""(?:\[([^\]]*)\]|(['"])((?:\\.|(?!\2).)*)\2)"""
)
_QUOTED = re.compile(r"""(['"])((?:\\.|(?!\1).)*)\1""")


def foreign_shellouts(prog: str, code: str) -> list[Inner]:
    """The shell commands a python/perl/ruby/php/node/awk program spells out:
    ``os.system("…")``, ``subprocess.run(["rm", …])``, ``system("…")``, backticks."""
    inners: list[Inner] = []
    for listed, _q, text in _SHELLOUT.findall(code):
        if listed:
            items = _QUOTED.findall(listed)
            if items:
                inners.append(Inner(f"{prog} exec", argv=[Word.of(s) for _, s in items]))
        elif text:
            inners.append(Inner(f"{prog} system", script=Word.of(text)))
    for text in re.findall(r"`([^`]+)`", code):
        inners.append(Inner(f"{prog} backticks", script=Word.of(text)))
    for text in re.findall(r"\bqx\s*[({/|!]([^)}/|!]+)[)}/|!]", code):
        inners.append(Inner(f"{prog} qx", script=Word.of(text)))
    return inners


_PREFIX_WRAPPERS: dict[str, tuple[str, frozenset[str], int]] = {
    # program: (short options taking a value, long options taking a value, operands to skip)
    "sudo": ("ugCDhprtUTR", frozenset({"--user", "--group", "--close-from", "--chdir", "--host",
             "--prompt", "--role", "--type", "--other-user", "--command-timeout", "--chroot"}), 0),
    "doas": ("uC", frozenset(), 0),
    "nohup": ("", frozenset(), 0),
    "setsid": ("", frozenset(), 0),
    "nice": ("n", frozenset({"--adjustment"}), 0),
    "ionice": ("cnt", frozenset({"--class", "--classdata"}), 0),
    "chrt": ("TPD", frozenset({"--sched-runtime", "--sched-period", "--sched-deadline"}), 1),
    "taskset": ("", frozenset(), 1),
    "timeout": ("sk", frozenset({"--signal", "--kill-after"}), 1),
    "stdbuf": ("ioe", frozenset({"--input", "--output", "--error"}), 0),
    "time": ("fo", frozenset({"--format", "--output"}), 0),
    "strace": ("abeEIoOpPsSuX", frozenset(), 0),
    "ltrace": ("aAeEnopSsuD", frozenset(), 0),
    "exec": ("a", frozenset(), 0),
    "builtin": ("", frozenset(), 0),
    "chroot": ("", frozenset({"--userspec", "--groups"}), 1),
    "nsenter": ("tSG", frozenset({"--target", "--setuid", "--setgid"}), 0),
    "unshare": ("", frozenset(), 0),
    "sshpass": ("pfdP", frozenset(), 0),
    "systemd-run": ("upEMHs", frozenset({"--unit", "--property", "--setenv", "--machine",
                    "--host", "--description", "--slice", "--uid", "--gid", "--working-directory",
                    "--on-calendar", "--on-active", "--nice"}), 0),
    "screen": ("SceLhpT", frozenset(), 0),
    "unbuffer": ("", frozenset(), 0),
    "catchsegv": ("", frozenset(), 0),
    "cgexec": ("g", frozenset(), 0),
    "firejail": ("", frozenset(), 0),
    "proxychains": ("f", frozenset(), 0),
    "torsocks": ("", frozenset(), 0),
    "sg": ("", frozenset(), 1),
    "ip": ("", frozenset(), 0),  # handled below: only `ip netns exec NS CMD`
}  # fmt: skip


def unwrap(prog: str, args: list[Word], stdin: Data) -> list[Inner]:
    """What running ``prog args`` would run in turn (empty: nothing we can see)."""
    if prog in SHELLS:
        inner = _shell(prog, args)
        return [inner] if inner else []
    if prog == "busybox" or prog == "toybox":
        return [Inner(prog, argv=args)] if args else []
    if prog in ("eval",):
        return [Inner("eval", script=_joined(args))] if args else []
    if prog in ("source", "."):
        return [Inner(prog, file_script=args[0], positional=args[1:])] if args else []
    if prog == "trap":
        if args and args[0].text not in ("-", "-p", "-l", ""):
            return [Inner("trap", script=args[0])]
        return []
    if prog in ("at", "batch"):
        if any(a.text == "-f" or a.text.startswith("-f") for a in args):
            return []
        if any(a.text in ("-l", "-r", "-d", "-c") for a in args):
            return []
        return [Inner(prog, stdin_script=True)]
    if prog == "env":
        inner = _env(args)
        return [inner] if inner else []
    if prog in ("su", "runuser"):
        inner = _su(prog, args)
        return [inner] if inner else []
    if prog == "xargs":
        return _xargs(args, stdin)
    if prog == "find":
        return _find(args)
    if prog == "parallel":
        return _parallel(args)
    if prog == "command":
        if any(a.text in ("-v", "-V") for a in args):
            return []
        i = _skip_options(args)
        return [Inner("command", argv=args[i:])] if i < len(args) else []
    if prog == "flock":
        i = _skip_options(args, "wE", frozenset({"--timeout", "--conflict-exit-code"}))
        rest = args[i + 1 :]
        for k, a in enumerate(args):
            if a.text in ("-c", "--command") and k + 1 < len(args):
                return [Inner("flock -c", script=args[k + 1])]
        return [Inner("flock", argv=rest)] if rest else []
    if prog == "watch":
        i = _skip_options(args, "nq", frozenset({"--interval", "--equexit"}))
        if i >= len(args):
            return []
        if any(a.text in ("-x", "--exec") for a in args[:i]):
            return [Inner("watch -x", argv=args[i:])]
        return [Inner("watch", script=_joined(args[i:]))]
    if prog == "ssh":
        i = _skip_options(args, "bcDEeFIiJLlmOopQRSWwB")
        if i + 1 < len(args):
            return [Inner("ssh", script=_joined(args[i + 1 :]))]
        return []
    if prog == "script":
        for k, a in enumerate(args):
            if a.text in ("-c", "--command") and k + 1 < len(args):
                return [Inner("script -c", script=args[k + 1])]
        return []
    if prog == "tmux":
        return _tmux(args)
    if prog == "ip":
        texts = [a.text for a in args]
        if texts[:2] == ["netns", "exec"] and len(args) > 3:
            return [Inner("ip netns exec", argv=args[3:])]
        return []
    if prog in _PREFIX_WRAPPERS:
        short, long, skip = _PREFIX_WRAPPERS[prog]
        if prog in ("ionice", "chrt", "taskset") and any(a.text in ("-p", "--pid") for a in args):
            return []
        if prog == "sudo" and any(a.text in ("-e", "-l", "-v", "-k", "-K") for a in args[:1]):
            return []
        i = _skip_options(args, short, long, skip_assignments=prog in ("sudo", "doas"))
        i += skip
        return [Inner(prog, argv=args[i:])] if i < len(args) else []
    base = prog.rstrip("0123456789.") if prog.startswith("python") else prog
    if base in _SCRIPTING or prog in _SCRIPTING:
        return _foreign_shellouts(prog, args)
    return []


def _tmux(args: list[Word]) -> list[Inner]:
    texts = [a.text for a in args]
    for k, t in enumerate(texts):
        if t in ("new", "new-session", "new-window", "neww", "split-window", "splitw",
                 "respawn-pane", "respawnp", "run-shell", "run"):  # fmt: skip
            rest = args[k + 1 :]
            i = _skip_options(rest, "sncteFxyFtlp")
            return [Inner(f"tmux {t}", script=_joined(rest[i:]))] if i < len(rest) else []
        if t in ("send-keys", "send"):
            rest = args[k + 1 :]
            i = _skip_options(rest, "tN")
            keys = [w for w in rest[i:] if w.text not in ("Enter", "C-m", "KPEnter")]
            return [Inner("tmux send-keys", script=_joined(keys))] if keys else []
    return []


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
