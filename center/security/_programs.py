"""What the analyser knows of particular programs.

Two tables:

* **wrappers** — programs that run another command or script: ``sudo``, ``env``,
  ``nohup``, ``timeout``, ``xargs``, ``find -exec``, ``sh -c``, ``eval``, ``ssh``,
  ``su -c``, ``watch``, ``at``… :func:`unwrap` says what they would run.
* **data** — programs whose output can be computed: see :mod:`._dataflow`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._expand import Piece, Unknown, Word

__all__ = ["INTERPRETERS", "SHELLS", "UNREADABLE", "Inner", "interpreter_inners", "program_name", "unwrap"]

Data = bytes | Unknown

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "rbash", "yash", "posh", "ksh93"})
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
    lang: str = "sh"  # the language of script / file_script / stdin_script
    redirects: list[tuple[str, Word]] | None = None  # files written (a library's open(…, "w"))


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
    return Inner(f"{name} <stdin", stdin_script=True)  # no -c: the shell reads its stdin


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
        elif t in ("-a", "--arg-file") and i + 1 < len(args):
            # Items come from a file, not stdin: unknown, unless it is empty.
            stdin = b"" if args[i + 1].text == "/dev/null" else Unknown(frozenset({"xargs -a"}))
            i += 2
        elif t in ("-n", "-L", "-P", "-s", "-E", "-l"):
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
        # GNU xargs runs the command once even with no input, unless told -r.
        if any(a.text in ("-r", "--no-run-if-empty") for a in args[:i]):
            return []
        return [Inner("xargs", argv=cmd, stdin=[])]
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
    name_glob: str | None = None
    depth_zero = False
    inners: list[Inner] = []
    while i < len(args):
        t = args[i].text
        if t in _FIND_ACTIONS:
            j = i + 1
            while j < len(args) and args[j].text not in (";", "+"):
                j += 1
            cmd = args[i + 1 : j]
            target = _find_target(roots, filtered, name_glob, depth_zero)
            if cmd:
                inners.append(Inner(f"find {t}", argv=[_replace(w, "{}", target) for w in cmd]))
            i = j + 1
            continue
        if t in ("-name", "-iname", "-path", "-ipath", "-wholename") and i + 1 < len(args) and args[i + 1].text == "*":
            i += 2  # matches everything: not a filter
            continue
        if t == "-type" and i + 1 < len(args):
            i += 2  # files or directories: everything of the kind, not a selection
            continue
        if t in ("-name", "-iname") and i + 1 < len(args) and name_glob is None and not args[i + 1].unknown:
            name_glob = args[i + 1].text
            i += 2
            continue
        if t == "-maxdepth" and i + 1 < len(args):
            depth_zero = args[i + 1].text == "0"
            i += 2
            continue
        if t.startswith("-") and t not in _FIND_HARMLESS:
            filtered = True
        elif t in ("(", "!", "-not", "-o", "-or"):
            filtered = True
        i += 1
    return inners


def _find_target(roots: list[Word], filtered: bool, name_glob: str | None, depth_zero: bool) -> Word:
    """What ``{}`` stands for: the root itself (``-maxdepth 0``), everything in it
    (``ROOT/*``), the entries a plain ``-name GLOB`` selects (``ROOT/GLOB``), or unknown."""
    if len(roots) != 1 or filtered or roots[0].unknown:
        return Word([Piece("", known=False, sources=frozenset({"find"}))])
    root = roots[0]
    if depth_zero:
        return root
    base = root.text.rstrip("/")
    if name_glob is not None:
        if "/" in name_glob:
            return Word([Piece("", known=False, sources=frozenset({"find"}))])
        return Word([Piece(f"{base}/{name_glob}")])
    return Word([Piece(f"{base}/*")])


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
    return interpreter_inners(prog, args)


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


# --- interpreters ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Lang:
    """How an interpreter's command line names its program.

    ``code``: options whose value is program text (``-c``, ``-e``); ``files``:
    options whose value is a program file (``-f``); ``values``: other options
    taking a value; ``stops``: options after which no program follows
    (``python -m MODULE``); ``attached``: short letters whose value is the rest
    of the cluster (``perl -i.bak``); ``code_first``: the first operand is the
    program (awk); ``repeat``: several ``-e`` make one program (perl, ruby).
    """

    lang: str
    code: frozenset[str] = frozenset()
    files: frozenset[str] = frozenset()
    values: frozenset[str] = frozenset()
    stops: frozenset[str] = frozenset()
    attached: str = ""
    code_first: bool = False
    repeat: bool = False


def _fs(*items: str) -> frozenset[str]:
    return frozenset(items)


INTERPRETERS: dict[str, _Lang] = {
    "python": _Lang("python", _fs("-c"), values=_fs("-W", "-X", "-Q"), stops=_fs("-m")),
    "pypy": _Lang("python", _fs("-c"), values=_fs("-W", "-X"), stops=_fs("-m")),
    "perl": _Lang("perl", _fs("-e", "-E"), values=_fs("-I"), attached="iFIMmCDxd", repeat=True),
    "ruby": _Lang("ruby", _fs("-e"), values=_fs("-r", "-I", "-C", "-E"), repeat=True),
    "node": _Lang("node", _fs("-e", "--eval", "-p", "--print"),
                  values=_fs("-r", "--require", "--import", "--loader", "--input-type", "--experimental-loader")),
    "php": _Lang("php", _fs("-r", "-B", "-R", "-E"), files=_fs("-f"), values=_fs("-c", "-d", "-z", "-t")),
    "lua": _Lang("lua", _fs("-e"), values=_fs("-l")),
    "awk": _Lang("awk", files=_fs("-f", "--file"), values=_fs("-F", "-v", "--assign", "--field-separator"),
                 code_first=True),
}  # fmt: skip
"""The interpreters whose languages the analyser reads (:mod:`._foreign`)."""

_ALIASES = {"python2": "python", "python3": "python", "pypy3": "pypy", "nodejs": "node", "gawk": "awk",
            "mawk": "awk", "nawk": "awk", "luajit": "lua", "php-cli": "php", "perl5": "perl"}  # fmt: skip

UNREADABLE: dict[str, _Lang] = {
    name: _Lang("?" + name, _fs(*code))
    for name, code in {
        "tclsh": (), "wish": (), "expect": ("-c",), "Rscript": ("-e",), "R": ("-e",),
        "julia": ("-e", "--eval"), "guile": ("-c",), "racket": ("-e",), "pwsh": ("-c", "-Command", "-command"),
        "powershell": ("-c", "-Command", "-command"), "fish": ("-c", "--command"), "csh": ("-c",),
        "tcsh": ("-c",), "nu": ("-c",), "elvish": ("-c",), "xonsh": ("-c",), "osascript": ("-e",),
        "groovy": ("-e",), "bun": ("-e", "--eval"), "sbcl": ("--eval",), "clisp": ("-x",),
        "erl": ("-eval",), "elixir": ("-e",), "scala": ("-e",), "jshell": (), "ocaml": (), "gdb": ("-ex",),
        "irb": (), "dc": ("-e",), "gnuplot": ("-e",),
    }.items()
}  # fmt: skip
"""Interpreters whose languages the analyser cannot read: program text given to them is held."""


def _lang_of(prog: str) -> _Lang | None:
    name = _ALIASES.get(prog, prog)
    if name not in INTERPRETERS and re.fullmatch(r"(python|pypy|perl|ruby|lua|php)[0-9.]+", name):
        name = re.sub(r"[0-9.]+$", "", name)
    return INTERPRETERS.get(name) or UNREADABLE.get(name)


def interpreter_inners(prog: str, args: list[Word]) -> list[Inner]:
    """What an interpreter command line runs, as :class:`Inner` objects in its language:
    program text (``python -c CODE``), a program file (``perl x.pl``), or its standard
    input (``ruby`` with no program). Empty for programs that are not interpreters,
    and for ``python -m MODULE`` (installed code, like any program)."""
    spec = _lang_of(prog)
    if spec is None:
        return []
    code: list[Word] = []
    program_file: Word | None = None
    i = 0
    while i < len(args):
        a = args[i]
        t = a.text
        nxt = args[i + 1] if i + 1 < len(args) else None
        if t == "--":
            i += 1
            break
        if t in spec.stops:
            return []
        if t.startswith("--") and "=" in t and t.split("=", 1)[0] in spec.code:
            code.append(Word([Piece(t.split("=", 1)[1])]))
            i += 1
            if not spec.repeat:
                break
            continue
        if t in spec.code:
            if nxt is not None:
                code.append(nxt)
            i += 2
            if not spec.repeat:
                break
            continue
        if t in spec.files and nxt is not None:
            program_file = nxt
            i += 2
            continue
        if t in spec.values:
            i += 2
            continue
        if t.startswith("-") and len(t) > 1 and not t.startswith("--") and not a.unknown:
            # A cluster of short options: -Bc CODE, -lane CODE, -cCODE, -i.bak.
            letters = t[1:]
            consumed = 1
            for k, ch in enumerate(letters):
                if "-" + ch in spec.code:
                    tail = letters[k + 1 :]
                    if tail:
                        code.append(Word([Piece(tail)]))
                    elif nxt is not None:
                        code.append(nxt)
                        consumed = 2
                    break
                if "-" + ch in spec.stops:
                    return []
                if "-" + ch in spec.values or "-" + ch in spec.files:
                    if k == len(letters) - 1 and nxt is not None:
                        if "-" + ch in spec.files:
                            program_file = nxt
                        consumed = 2
                    break
                if ch in spec.attached:
                    break
            i += consumed
            if code and not spec.repeat:
                break
            continue
        if t.startswith("--"):
            i += 1
            continue
        break
    rest = args[i:]
    if code:
        return [Inner(f"{prog} code", script=_joined_lines(code), lang=spec.lang, positional=rest)]
    if program_file is not None:
        return [Inner(f"{prog} FILE", file_script=program_file, lang=spec.lang, positional=rest)]
    if spec.code_first:
        if not rest:
            return []
        return [Inner(f"{prog} program", script=rest[0], lang=spec.lang, positional=rest[1:])]
    if rest and rest[0].text != "-":
        return [Inner(f"{prog} FILE", file_script=rest[0], lang=spec.lang, positional=rest[1:])]
    return [Inner(f"{prog} <stdin", stdin_script=True, lang=spec.lang, positional=rest[1:])]


def _joined_lines(words: list[Word]) -> Word:
    pieces: list[Piece] = []
    for k, w in enumerate(words):
        if k:
            pieces.append(Piece("\n"))
        pieces.extend(w.pieces)
    return Word(pieces)
