"""The walk: follow a parsed command the way a shell would run it, without running it.

:class:`Analyser` visits bashlex's tree, expands words (:mod:`._expand`), keeps
the shell state the command builds up (variables, arrays, aliases, functions,
the working directory, files it writes), looks through wrappers
(:mod:`._programs`), computes data flowing into shells (:mod:`._dataflow`), and
matches every simple command and redirection against the rules
(:mod:`._match`), collecting :class:`~._verdict.Finding` objects.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import bashlex
import bashlex.errors
import bashlex.subst

from ._dataflow import data_output
from ._envvars import check_environment
from ._expand import DEFAULT_VARS, Env, Expander, Piece, Unknown, Word
from ._foreign import read_program
from ._match import (
    CERTAIN,
    IF_EMPTY,
    PROGRAM_UNKNOWN,
    CommandView,
    cap_action,
    match_command,
    match_target,
)
from ._programs import Inner, program_name, unwrap
from ._rules import Rule, RuleSet, normalise_path
from ._shellscan import ARRAY_COMMAND, lex, rewrite_for_bashlex, split_commands
from ._verdict import Finding


def _paramexpand_checked(parserobj: Any, string: str, sindex: int) -> Any:
    """bashlex 0.18's ``${`` expansion, refusing a word with no ``}`` after it. bashlex
    takes ``str.find``'s -1 for the closing brace, moves back to the word's start and
    loops for ever, growing a list each turn: a fuzzed command took a test worker to
    22.9 GB before the kernel killed it. Refused here, the command is unparseable and
    held for approval like any other (``parse.unparseable``)."""
    at = sindex + 1
    if at < len(string) and string[at] == "{" and string.find("}", at + 1) == -1:
        raise bashlex.errors.ParsingError("bad substitution: no closing '}'", string, sindex)
    return _bashlex_paramexpand(parserobj, string, sindex)


_bashlex_paramexpand = bashlex.subst._paramexpand
bashlex.subst._paramexpand = _paramexpand_checked

__all__ = ["MAX_DEPTH", "MAX_INPUT", "MAX_STEPS", "MAX_TOKENS", "Analyser", "Ctx", "LimitReached"]

MAX_INPUT = 256 * 1024
MAX_TOKENS = 8_000
MAX_DEPTH = 16
MAX_STEPS = 20_000
MAX_LOOP_ITEMS = 8
MAX_VALUE = 64 * 1024
Data = bytes | Unknown
_NOTES = {
    CERTAIN: "",
    PROGRAM_UNKNOWN: "the program name is only decided at run time",
    IF_EMPTY: "if a variable in it is empty",
}


class LimitReached(Exception):
    """The analysis ran out of its step budget."""


@dataclass(frozen=True, slots=True)
class Ctx:
    via: tuple[str, ...] = ()
    depth: int = 0
    active: frozenset[str] = frozenset()  # functions and aliases being expanded

    def step(self, label: str) -> Ctx:
        return Ctx(self.via + (label,), self.depth + 1, self.active)

    def enter(self, name: str, label: str) -> Ctx:
        return Ctx(self.via + (label,), self.depth + 1, self.active | {name})


_ELEMENT_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\[([^\]]*)\]=")
_GLOBBY = re.compile(r"[\w@%+=:,./*?~\[\]-]+")


def _fragment(argv: list[Word]) -> str:
    parts = []
    for k, w in enumerate(argv):
        text = program_name(w) if k == 0 and not w.unknown else w.display
        parts.append(text if w.unknown or _GLOBBY.fullmatch(text) else shlex.quote(text))
    return " ".join(parts)


def _concat(outs: list[Data]) -> Data:
    unknown = [o for o in outs if isinstance(o, Unknown)]
    if unknown:
        merged = Unknown()
        for u in unknown:
            merged = merged | u
        return merged
    return b"".join(o for o in outs if isinstance(o, bytes))


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace").replace("\x00", "")


class Analyser:
    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.findings: dict[tuple[str, str], Finding] = {}
        self.steps = 0
        self.parsed = True
        # What every script started along the way inherits: the exported environment
        # (check_exec's env) and the files the job carries.
        self.exported: dict[str, str | Unknown] = dict(DEFAULT_VARS)
        self.files: dict[str, Data] = {}

    # --- findings ---------------------------------------------------------------

    def _add(self, rule: Rule, strength: str, fragment: str, ctx: Ctx) -> None:
        key = (rule.id, fragment)
        if key not in self.findings:
            self.findings[key] = Finding(
                rule.id,
                cap_action(rule.action, strength),
                rule.message,
                fragment,
                ctx.via,
                _NOTES[strength],
            )

    def event(self, kind: str, fragment: str, ctx: Ctx, sources: frozenset[str] = frozenset()) -> None:
        names = {program_name(Word.of(s)) for s in sources}
        for rule in self.rules.by_kind(kind):
            if rule.sources_any and not any(p.fullmatch(n) for p in rule.sources_any for n in names):
                continue
            self._add(rule, CERTAIN, fragment, ctx)

    def _tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise LimitReached

    # --- scripts ----------------------------------------------------------------

    def script(self, text: str, env: Env, stdin: Data, ctx: Ctx) -> Data:
        """Analyse shell text; return what it would print, as far as known."""
        if ctx.depth > MAX_DEPTH or len(text) > MAX_INPUT:
            self.event("limit", text[:80], ctx)
            return Unknown(frozenset({"limit"}))
        tokens = lex(text)
        if not any(t.kind == "word" for t in tokens):
            return b""
        if len(tokens) > MAX_TOKENS:
            # bashlex grows faster than linearly (40,000 tokens take seconds), and the
            # center checks jobs inline: read the simple commands only, and hold.
            self.event("limit", f"{len(tokens)} shell tokens (more than {MAX_TOKENS})", ctx)
            self._fallback(text, env, ctx)
            return Unknown(frozenset({"limit"}))
        nodes, src, extras = _parse(text)
        for extra in extras:
            self.script(extra, env.copy(), b"", ctx.step("$(…)"))
        if nodes is None:
            self.parsed = False
            self._fallback(src, env, ctx)
            self.event("unparseable", text.strip().splitlines()[0][:120], ctx)
            return Unknown(frozenset({"unparseable"}))
        return _concat([self._walk(node, src, env, stdin, ctx) for node in nodes])

    def _fallback(self, text: str, env: Env, ctx: Ctx) -> None:
        exp = self._expander(env, ctx)
        for raw_words, raw_redirects in split_commands(text):
            argv = [w for raw in raw_words for w in exp.words(raw)]
            redirects = [(op, exp.one(raw)) for op, raw in raw_redirects]
            self._run(argv, redirects, env, b"", ctx)

    def _expander(self, env: Env, ctx: Ctx) -> Expander:
        def substitute(text: str) -> Data:
            return self.script(text, env.copy(), b"", ctx.step("$(…)"))

        def process_substitute(text: str) -> Data:
            return self.script(text, env.copy(), Unknown(frozenset({"<(…)"})), ctx.step("<(…)"))

        return Expander(env, substitute, process_substitute)

    # --- the tree ----------------------------------------------------------------

    def _walk(self, node: Any, src: str, env: Env, stdin: Data, ctx: Ctx) -> Data:
        self._tick()
        kind = node.kind
        if kind == "list":
            return _concat([self._walk(p, src, env, stdin, ctx) for p in node.parts if p.kind != "operator"])
        if kind == "pipeline":
            cmds = [p for p in node.parts if p.kind not in ("pipe", "reservedword")]
            data = stdin
            for c in cmds:
                data = self._walk(c, src, env.copy() if len(cmds) > 1 else env, data, ctx)
            return data
        if kind == "compound":
            subshell = bool(node.list) and getattr(node.list[0], "word", "") == "("
            inner = env.copy() if subshell else env
            out = _concat(
                [self._walk(p, src, inner, stdin, ctx) for p in node.list if p.kind != "reservedword"]
            )
            redirects = [self._redirect(r, src, env, ctx) for r in getattr(node, "redirects", [])]
            self._observe_redirects([r for r in redirects if r is not None and r[0] != "<"], env, ctx)
            return out
        if kind in ("if", "while", "until"):
            return _concat([self._walk(p, src, env, stdin, ctx) for p in node.parts if p.kind != "reservedword"])
        if kind == "for":
            return self._for(node, src, env, stdin, ctx)
        if kind == "function":
            self._function(node, src, env, ctx)
            return b""
        if kind == "command":
            return self._command(node, src, env, stdin, ctx)
        return b""

    def _for(self, node: Any, src: str, env: Env, stdin: Data, ctx: Ctx) -> Data:
        parts = node.parts
        var = parts[1].word if len(parts) > 1 else "_"
        items_nodes: list[Any] = []
        body: list[Any] = []
        state = "head"
        for p in parts[2:]:
            if p.kind == "reservedword":
                if p.word == "in":
                    state = "items"
                elif p.word == "do":
                    state = "body"
                elif p.word in (";", "\n") and state == "items":
                    state = "head"
                continue
            if state == "items":
                items_nodes.append(p)
            elif state == "body":
                body.append(p)
        exp = self._expander(env, ctx)
        items: list[Word | None] = [w for n in items_nodes for w in exp.words(src[n.pos[0] : n.pos[1]])]
        if not items_nodes and env.positional is not None:
            items = list(env.positional)
        items = items[:MAX_LOOP_ITEMS] or [None]
        outs: list[Data] = []
        for item in items:
            if item is None or item.all_unknown:
                env.vars[var] = Unknown(frozenset({"$" + var}) if item is None else item.sources)
            else:
                env.vars[var] = item.shell if item.unknown else item.text
            outs.extend(self._walk(p, src, env, stdin, ctx) for p in body)
        return _concat(outs)

    def _function(self, node: Any, src: str, env: Env, ctx: Ctx) -> None:
        words = [p for p in node.parts if p.kind == "word"]
        body = node.parts[-1]
        if not words:
            return
        name = words[0].word
        env.functions[name] = (body, src)
        if _is_fork_bomb(name, body):
            self.event("forkbomb", src[node.pos[0] : node.pos[1]][:120], ctx)
        # Check the body even if never called: a script may define it for later.
        if name not in ctx.active:
            saved = env.positional
            env.positional = None
            try:
                self._walk(body, src, env.copy(), b"", ctx.enter(name, f"function {name}"))
            finally:
                env.positional = saved

    # --- simple commands ------------------------------------------------------------

    def _redirect(self, r: Any, src: str, env: Env, ctx: Ctx) -> tuple[str, Word | Data] | None:
        exp = self._expander(env, ctx)
        rtype = r.type
        if rtype in ("<<", "<<-"):
            heredoc = getattr(r, "heredoc", None)
            value = heredoc.value if heredoc is not None else ""
            lines = value.split("\n")
            if len(lines) > 1:
                lines = lines[:-1]  # bashlex keeps the delimiter line
            if rtype == "<<-":
                lines = [line.lstrip("\t") for line in lines]
            return "<", exp.heredoc("\n".join(lines) + "\n")
        target = r.output
        if isinstance(target, int) or not hasattr(target, "pos"):
            return None
        word = exp.one(src[target.pos[0] : target.pos[1]])
        if rtype == "<<<":
            return "<", (word.shell + "\n").encode("utf-8", "surrogatepass")
        if rtype == "<":
            if word.data is not None:
                return "<", word.data
            return "<", env.files.get(_file_key(word, env), Unknown(frozenset({"<" + word.text})))
        if getattr(r, "input", None) not in (None, 1) and rtype in (">", ">>", ">|"):
            return "2" + rtype, word  # stderr (or another fd): does not carry stdout
        return rtype, word

    def _command(self, node: Any, src: str, env: Env, stdin: Data, ctx: Ctx) -> Data:
        parts = node.parts
        words = [p for p in parts if p.kind == "word"]
        if words:
            first_raw = src[words[0].pos[0] : words[0].pos[1]]
            first = Word.of(first_raw)
            if first.literal and first_raw in env.aliases and first_raw not in ctx.active:
                text = env.aliases[first_raw] + " " + src[words[0].pos[1] : node.pos[1]]
                return self.script(text, env, stdin, ctx.enter(first_raw, f"alias {first_raw}"))
        exp = self._expander(env, ctx)
        argv: list[Word] = []
        for w in words:
            raw = src[w.pos[0] : w.pos[1]]
            m = _ELEMENT_ASSIGN.match(raw) if not argv else None
            if m:  # a[k]=v: bashlex reads it as a word
                env.vars[f"{m.group(1)}[{m.group(2).strip(chr(34) + chr(39))}]"] = exp.one(raw[m.end() :]).shell
                continue
            argv.extend(exp.words(raw))
        prefix: dict[str, str] = {}
        for a in (p for p in parts if p.kind == "assignment"):
            raw = src[a.pos[0] : a.pos[1]]
            name, _, value_raw = raw.partition("=")
            append = name.endswith("+")
            name = name.rstrip("+")
            value = exp.one(value_raw)
            if not argv:  # a bare assignment sets the variable for the rest of the script
                _assign(env, name, value, append)
            elif not value.unknown:
                prefix[name] = value.text
        if prefix:  # BASH_ENV=/dev/stdin bash …: code the command's environment carries
            check_environment(self, prefix, env, stdin, ctx, apply_rules=False)
        redirects: list[tuple[str, Word]] = []
        for r in (p for p in parts if p.kind == "redirect"):
            got = self._redirect(r, src, env, ctx)
            if got is None:
                continue
            op, target = got
            if op == "<":
                stdin = target if isinstance(target, bytes | Unknown) else stdin
            elif isinstance(target, Word):
                redirects.append((op, target))
        out = self._run(argv, redirects, env, stdin, ctx)
        captured = False
        for op, target in redirects:
            if op in (">", ">|", "&>", ">>", "&>>") and not target.unknown:
                key = _file_key(target, env)
                if key and op in (">>", "&>>") and isinstance(env.files.get(key), bytes):
                    old = env.files[key]
                    env.files[key] = old + out if isinstance(out, bytes) else out  # type: ignore[operator]
                elif key:
                    env.files[key] = out
                if key:
                    self._persisted(key, out, ctx)
            captured |= op in (">", ">|", "&>", ">>", "&>>")
        return b"" if captured else out

    def _observe_redirects(self, redirects: list[Any], env: Env, ctx: Ctx) -> None:
        for op, word in redirects:
            if not isinstance(word, Word):
                continue
            op = op[1:] if op.startswith("2") else op
            for rule in self.rules.by_kind("redirect"):
                if op not in rule.ops:
                    continue
                strength = match_target(rule.targets_any, [word], env.cwd)
                if strength is not None:
                    self._add(rule, strength, f"{op} {word.display}", ctx)

    def _run(self, argv: list[Word], redirects: list[tuple[str, Word]], env: Env, stdin: Data, ctx: Ctx) -> Data:
        self._tick()
        self._observe_redirects(redirects, env, ctx)
        if not argv:
            return b""
        prog = "" if argv[0].all_unknown else program_name(argv[0])
        args = argv[1:]
        _builtin(prog, args, env, stdin)
        view = CommandView.build(argv, env.cwd)
        fragment = _fragment(argv)
        for rule in self.rules.by_kind("command"):
            strength = match_command(rule, view)
            if strength is not None:
                self._add(rule, strength, fragment, ctx)
        if prog in env.functions and prog not in ctx.active:
            body, fsrc = env.functions[prog]
            saved = env.positional
            env.positional = args
            try:
                return self._walk(body, fsrc, env, stdin, ctx.enter(prog, f"function {prog}"))
            finally:
                env.positional = saved
        written = env.files.get(_file_key(argv[0], env)) if "/" in argv[0].text else None
        if written is not None:  # running a script the command itself wrote (or the job carries)
            shebang = _shebang(written)
            if shebang and ctx.depth < MAX_DEPTH:
                return self._run([*shebang, *argv], [], env, stdin, ctx.step(f"#!{shebang[0].text}"))
            return self._script_data(written, Inner("script", positional=args), ctx.step(f"script {argv[0].text}"))
        if prog == "tee":
            for w in view.operands:
                if not w.unknown:
                    env.files[_file_key(w, env)] = stdin
                    self._persisted(_file_key(w, env), stdin, ctx)
        if prog == "crontab":
            self._crontab(view, env, stdin, ctx)
        downloaded = _download_target(prog, args)
        if downloaded is not None and not downloaded.unknown:
            env.files[_file_key(downloaded, env)] = Unknown(frozenset({prog}))
        out: Data = data_output(prog, args, stdin) if prog else Unknown(argv[0].sources)
        for inner in unwrap(prog, args, stdin) if prog else []:
            out = self._inner(inner, env, stdin, ctx.step(inner.label), out)
        return out

    def _persisted(self, path: str, data: Data, ctx: Ctx) -> None:
        """Text written where the host will run it later: cron tables, boot and login
        scripts. Its commands are checked now, as if they ran."""
        if not isinstance(data, bytes) or not data.strip():
            return
        kind = _code_path(path)
        if kind is None:
            return
        sub = ctx.step(f"written to {path}")
        if kind == "shell":
            self.script(_decode(data), Env(vars=dict(self.exported)), b"", sub)
            return
        if kind == "unit":
            for line in _decode(data).splitlines():
                m = re.match(r"\s*Exec\w*\s*=\s*[-@:+!]*(.+)", line)
                if m:
                    self.script(m.group(1), Env(vars=dict(self.exported)), b"", sub)
            return
        for job in _cron_jobs(_decode(data), system=kind == "system-cron"):
            self.script(job, Env(vars=dict(self.exported)), b"", sub)

    def _crontab(self, view: CommandView, env: Env, stdin: Data, ctx: Ctx) -> None:
        """A crontab being installed: check each job's command, and an empty table."""
        sources = [w for w in view.operands if not w.unknown]
        if any(f in view.flags for f in ("-l", "-r", "-e", "--list", "--remove", "--edit")):
            return
        data: Data | None = None
        if not sources or sources[0].text == "-":
            data = stdin
        else:
            data = env.files.get(_file_key(sources[0], env))
        if not isinstance(data, bytes):
            return
        jobs = []
        for line in _decode(data).splitlines():
            line = line.strip()
            if not line or line.startswith("#") or re.match(r"[A-Za-z_][A-Za-z0-9_]*\s*=", line):
                continue
            fields = line.split(None, 1 if line.startswith("@") else 5)
            if len(fields) == (2 if line.startswith("@") else 6):
                jobs.append(fields[-1])
        if not jobs:
            # Installing a table with no jobs wipes the existing one.
            self._run([Word.of("crontab"), Word.of("/dev/null")], [], env, b"", ctx.step("crontab -"))
        for job in jobs:
            self.script(job, Env(), b"", ctx.step("crontab job"))

    def _inner(self, inner: Inner, env: Env, stdin: Data, ctx: Ctx, out: Data) -> Data:
        if inner.redirects:
            self._observe_redirects(inner.redirects, env, ctx)
        if inner.lang != "sh":
            return self._program(inner, env, stdin, ctx, out)
        if inner.argv is not None:
            if not inner.argv:
                return out
            return self._run(inner.argv, [], env.copy(), stdin if inner.stdin is None else b"", ctx)
        if inner.script is not None:
            word: Word = inner.script
            if word.all_unknown:
                self.event("opaque-shell", f"{ctx.via[-1]} {word.display}", ctx, word.sources)
                return Unknown(word.sources)
            sub = env.copy()
            if inner.positional is not None:
                sub.arg0 = inner.positional[0] if inner.positional else None
                sub.positional = inner.positional[1:]
            return self.script(word.shell, sub, stdin, ctx)
        if inner.stdin_script:
            return self._script_data(stdin, inner, ctx)
        if inner.file_script is not None:
            data = inner.file_script.data
            if data is None and not inner.file_script.unknown:
                data = env.files.get(_file_key(inner.file_script, env))
            if data is not None:
                return self._script_data(data, inner, ctx)
        return out

    def _script_data(self, data: Data, inner: Any, ctx: Ctx) -> Data:
        if isinstance(data, Unknown):
            self.event("opaque-shell", f"{ctx.via[-1]} ← {', '.join(sorted(data.sources)) or '?'}", ctx, data.sources)
            return Unknown(data.sources)
        if not data.strip():
            return b""
        positional = getattr(inner, "positional", None)
        sub = Env(vars=dict(self.exported), files=self.files, positional=list(positional) if positional is not None else None)
        return self.script(_decode(data), sub, b"", ctx)

    def _program(self, inner: Inner, env: Env, stdin: Data, ctx: Ctx, out: Data) -> Data:
        """Program text in another language (``python -c``, ``perl x.pl``, ``ruby`` < stdin)."""
        lang = inner.lang
        body = False
        data: Data | None = None
        if inner.script is not None:
            word = inner.script
            if word.all_unknown:
                self.event("opaque-shell", f"{ctx.via[-1]} {word.display}", ctx, word.sources)
                return Unknown(word.sources)
            data = word.shell.encode("utf-8", "surrogatepass")
        elif inner.file_script is not None:
            data = inner.file_script.data
            if data is None and not inner.file_script.unknown:
                data = env.files.get(_file_key(inner.file_script, env))
            if data is None:
                return out  # a program file already on the host: like any installed program
            body = True
        elif inner.stdin_script:
            data = stdin
            body = True
        if data is None:
            return out
        if isinstance(data, Unknown):
            self.event("opaque-shell", f"{ctx.via[-1]} ← {', '.join(sorted(data.sources)) or '?'}", ctx, data.sources)
            return Unknown(data.sources)
        code = _decode(data)
        if not code.strip():
            return out
        first_line = code.strip().splitlines()[0][:80]
        if lang.startswith("?"):
            self.event("unknown-language", f"{lang[1:]}: {first_line}", ctx)
            return out
        reading = read_program(lang, code)
        if not reading.parsed:
            self.parsed = False
            self.event("unparseable", f"{lang}: {first_line}", ctx)
        seen: set[tuple[object, ...]] = set()
        for found in reading.inners:
            key = _inner_key(found)
            if key in seen:
                continue  # the same call a thousand times is read once
            seen.add(key)
            self._inner(found, env.copy(), b"", ctx.step(found.label), b"")
        for what in reading.dynamic:
            self.event("dynamic-code", f"{lang}: {what}", ctx)
        if reading.forkbomb:
            self.event("forkbomb", f"{lang}: {reading.forkbomb}", ctx)
        if reading.limit:
            self.event("limit", f"{lang}: {first_line}", ctx)
        if body:
            self.event("foreign-script", lang, ctx)
        return out  # what it prints: data_output's answer (awk '{print}'), else unknown


def _inner_key(inner: Inner) -> tuple[object, ...]:
    return (
        inner.label,
        inner.script.shell if inner.script is not None else None,
        tuple(w.shell for w in inner.argv) if inner.argv is not None else None,
        tuple((op, w.shell) for op, w in inner.redirects) if inner.redirects else None,
    )


def _shebang(data: Data) -> list[Word]:
    """The interpreter words of a ``#!`` line (``#!/usr/bin/env python3`` → env, python3)."""
    if not isinstance(data, bytes) or not data.startswith(b"#!"):
        return []
    line = _decode(data[2:].split(b"\n", 1)[0]).strip()
    # The kernel passes everything after the interpreter as ONE argument.
    interp, _, rest = line.partition(" ")
    words = [Word.of(interp)] if interp else []
    if rest.strip():
        words.append(Word.of(rest.strip()))
    return words


_SHELL_CODE_PATHS = re.compile(
    r"/etc/rc\.local|/etc/rc\.d/rc\.local|/etc/profile|/etc/profile\.d/[^/]+|/etc/bash\.bashrc|/etc/bashrc"
    r"|/etc/environment|/(root|home/[^/]+)/\.(bashrc|bash_profile|profile|bash_login|zshrc)|/etc/init\.d/[^/]+"
    r"|/etc/update-motd\.d/[^/]+|/etc/network/if-(up|pre-up|down|post-down)\.d/[^/]+"
)
_UNIT_PATHS = re.compile(r"/(etc|run|lib|usr/lib)/systemd/system/[^/]+\.(service|timer|socket)(\.d/[^/]+\.conf)?")


def _code_path(path: str) -> str | None:
    """What kind of code a file at ``path`` holds for the host to run later, if any."""
    if path == "/etc/crontab" or path.startswith(("/etc/cron.d/", "/etc/anacrontab")):
        return "system-cron"
    if path.startswith(("/var/spool/cron/crontabs/", "/var/spool/cron/")) and path.count("/") >= 4:
        return "user-cron"
    if _SHELL_CODE_PATHS.fullmatch(path):
        return "shell"
    if _UNIT_PATHS.fullmatch(path):
        return "unit"
    return None


def _cron_jobs(text: str, system: bool) -> list[str]:
    """The commands of a crontab: five schedule fields (or ``@reboot`` …), a user in the
    system tables, then the command."""
    jobs = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or re.match(r"[A-Za-z_][A-Za-z0-9_]*\s*=", line):
            continue
        fixed = (1 if line.startswith("@") else 5) + (1 if system else 0)
        fields = line.split(None, fixed)
        if len(fields) == fixed + 1:
            jobs.append(fields[-1])
    return jobs


def _download_target(prog: str, args: list[Word]) -> Word | None:
    """The file ``curl -o FILE`` / ``wget -O FILE`` writes (its contents: the network's)."""
    options = {"curl": ("-o", "--output"), "wget": ("-O", "--output-document")}.get(prog)
    if options is None:
        return None
    short, long = options[0][1], options[1]
    for k, a in enumerate(args):
        t = a.text
        if t == long and k + 1 < len(args):
            return args[k + 1]
        if t.startswith(long + "="):
            return Word([Piece(t[len(long) + 1 :])])
        if t.startswith("-") and not t.startswith("--") and short in t[1:]:
            # A cluster of flags: -so FILE, -qO FILE, -oFILE, -qO-.
            value = t[t.index(short, 1) + 1 :]
            if value:
                return Word([Piece(value)])
            if k + 1 < len(args):
                return args[k + 1]
    return None


def _assign(env: Env, name: str, value: Word, append: bool) -> None:
    if value.all_unknown:
        new: str | Unknown = Unknown(value.sources)
    else:
        new = value.shell if value.unknown else value.text
    if append:
        old = env.vars.get(name, "")
        if isinstance(old, Unknown) or isinstance(new, Unknown):
            new = Unknown()
        else:
            new = old + new
    if isinstance(new, str) and len(new) > MAX_VALUE:
        new = Unknown(frozenset({"$" + name}))  # bounded memory: a doubling loop stops here
    env.vars[name] = new


def _file_key(word: Word, env: Env) -> str:
    return normalise_path(word.text, env.cwd)


def _stdin_lines(stdin: Data) -> list[str] | None:
    return None if isinstance(stdin, Unknown) else _decode(stdin).split("\n")


def _builtin(prog: str, args: list[Word], env: Env, stdin: Data = b"") -> None:
    """The shell builtins that change what later commands mean."""
    if prog == "read":
        names = [a.text for a in args if not a.text.startswith("-")]
        lines = _stdin_lines(stdin)
        if lines is not None and names and not any(a.text in ("-a", "-d", "-n", "-N", "-u", "-p", "-t") for a in args):
            fields = lines[0].split(None, len(names) - 1) if lines[0].strip() else []
            for k, name in enumerate(names):
                env.vars[name] = fields[k] if k < len(fields) else ""
            return
    if prog in ("mapfile", "readarray"):
        names = [a.text for a in args if not a.text.startswith("-")]
        lines = _stdin_lines(stdin)
        if lines is not None and len(names) == 1 and all(a.text in ("-t",) or not a.text.startswith("-") for a in args):
            items = [Word.of(line) for line in lines if line]
            env.arrays[names[0]] = items
            env.vars[names[0]] = items[0].text if items else ""
            return
    if prog == "printf" and len(args) >= 3 and args[0].text == "-v":
        printed = data_output("printf", args[2:], b"")
        if isinstance(printed, bytes):
            env.vars[args[1].text] = _decode(printed)
        return
    if prog == "alias":
        for a in args:
            name, eq, text = a.text.partition("=")
            if eq and name:
                env.aliases[name] = text
    elif prog == "unalias":
        for a in args:
            env.aliases.pop(a.text, None)
    elif prog in ("export", "declare", "typeset", "local", "readonly"):
        for a in args:
            if "=" in a.text and not a.text.startswith("-"):
                name, _, _ = a.text.partition("=")
                # Drop the "NAME=" prefix from the first known piece(s).
                cut = len(name) + 1
                pieces: list[Piece] = []
                for p in a.pieces:
                    if cut and p.known:
                        take = min(cut, len(p.text))
                        cut -= take
                        if p.text[take:]:
                            pieces.append(Piece(p.text[take:], p.known, p.split, p.sources))
                    else:
                        pieces.append(p)
                _assign(env, name.rstrip("+"), Word(pieces or [Piece("")]), name.endswith("+"))
    elif prog == "unset":
        for a in args:
            env.vars.pop(a.text, None)
            env.functions.pop(a.text, None)
    elif prog in ("read", "mapfile", "readarray"):
        for a in args:
            if not a.text.startswith("-"):
                env.vars[a.text] = Unknown(frozenset({"read"}))
    elif prog in ("cd", "pushd"):
        target = next((a for a in args if not a.text.startswith("-")), None)
        if target is None or target.unknown:
            env.cwd = None
        elif target.text.startswith("/"):
            env.cwd = normalise_path(target.text)
        elif env.cwd is not None and not target.text.startswith("~"):
            env.cwd = normalise_path(target.text, env.cwd)
        else:
            env.cwd = None
    elif prog == ARRAY_COMMAND and args:
        name = args[0].text
        items = args[1:]
        if name.endswith("+"):
            name = name[:-1]
            items = env.arrays.get(name, []) + items
        env.arrays[name] = items
        _assign(env, name, items[0] if items else Word.of(""), False)
    elif prog == "set" and args and args[0].text == "--":
        env.positional = args[1:]
    elif prog == "shift" and env.positional:
        n = int(args[0].text) if args and args[0].text.isdigit() else 1
        env.positional = env.positional[n:]


def _parse(text: str) -> tuple[list[Any] | None, str, list[str]]:
    """bashlex's tree, after as many rewrites as it takes (a few rounds at most)."""
    extras: list[str] = []
    src = text
    for _round in range(8):
        try:
            return bashlex.parse(src), src, extras
        except Exception:  # bashlex raises many types on input it cannot read
            new, more = rewrite_for_bashlex(src)
            if new == src:
                break
            src = new
            extras += more
    return None, text, extras


def _iter_nodes(node: Any, in_pipe: bool = False, background: bool = False) -> Iterator[tuple[Any, bool, bool]]:
    """Every node under ``node``, with whether it sits in a pipe or runs in the background."""
    yield node, in_pipe, background
    kind = node.kind
    if kind == "list":
        parts = node.parts
        for k, p in enumerate(parts):
            if p.kind == "operator":
                continue
            bg = k + 1 < len(parts) and parts[k + 1].kind == "operator" and parts[k + 1].op == "&"
            yield from _iter_nodes(p, in_pipe, background or bg)
    elif kind == "pipeline":
        cmds = [p for p in node.parts if p.kind not in ("pipe", "reservedword")]
        for p in cmds:
            yield from _iter_nodes(p, in_pipe or len(cmds) > 1, background)
    elif kind == "compound":
        for p in node.list:
            yield from _iter_nodes(p, in_pipe, background)
    elif kind in ("if", "while", "until", "for", "function"):
        for p in node.parts:
            yield from _iter_nodes(p, in_pipe, background)


def _is_fork_bomb(name: str, body: Any) -> bool:
    """A function that starts itself in a pipe or in the background."""
    for node, in_pipe, background in _iter_nodes(body):
        if node.kind == "command":
            words = [p for p in node.parts if p.kind == "word"]
            if words and words[0].word == name and (in_pipe or background):
                return True
    return False
