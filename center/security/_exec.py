"""One entry point for "something will be executed": :func:`check_exec`.

Every action field that carries code ends up as an ``execve``: an argument
vector, an environment, a standard input, and maybe files the action writes
first (``exec.script``'s temporary script). :func:`check_exec` analyses exactly
that, with no shell assumed around it:

* ``argv[0]`` a shell (``sh``, ``bash``, ``busybox sh``, ``env … bash``,
  ``/bin/sh -c …``): ``-c TEXT`` is read as shell with the words after it as
  ``$0 $1 …``; otherwise a script file (one of ``files``) with the following
  words as ``$1 …``; otherwise the standard input is the script;
* ``argv[0]`` another interpreter (python, perl, ruby, node, php, lua, awk):
  its ``-c``/``-e`` text, script file or standard input is read in that
  language (:mod:`._foreign`); an interpreter whose language cannot be read
  gets the ``unknown-language`` rule (approve), never ``allow``;
* any other program: ``argv`` itself is matched as a simple command, after
  looking through wrappers (``sudo``, ``nice``, ``timeout``, ``xargs`` …);
* ``env``: see :mod:`._envvars`.

``check_command`` and ``check_script`` are thin wrappers over the same walk.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._envvars import check_environment
from ._expand import Env, Word
from ._programs import program_name
from ._rules import ACTIONS, RuleSet, default_rules, normalise_path
from ._verdict import Verdict
from ._walk import MAX_INPUT, Analyser, Ctx, LimitReached

__all__ = ["SCRIPT_PATH", "analyse", "check_exec", "verdict_of"]

_log = logging.getLogger(__name__)
SCRIPT_PATH = "/tmp/starling-script"
"""Where :func:`~._risk.check_script` pretends the script body was written."""


def verdict_of(analyser: Analyser) -> Verdict:
    """The most severe finding, as a :class:`Verdict`."""
    findings = sorted(analyser.findings.values(), key=lambda f: -ACTIONS[f.action])
    if not findings:
        return Verdict("allow", parsed=analyser.parsed)
    top = findings[0]
    return Verdict(
        top.action,  # type: ignore[arg-type]
        top.rule,
        top.message + (f" ({top.note})" if top.note else ""),
        top.fragment,
        tuple(findings),
        analyser.parsed,
    )


def analyse(rules: RuleSet | None, what: str, body: Callable[[Analyser, Ctx], Any]) -> Verdict:
    """Run ``body`` on a fresh analyser: a budget overrun or a bug holds, never allows."""
    analyser = Analyser(rules or default_rules())
    ctx = Ctx()
    try:
        body(analyser, ctx)
    except (LimitReached, RecursionError):
        analyser.event("limit", what[:80], ctx)
    except Exception:  # a bug here must hold the command, not wave it through or crash
        _log.exception("risk analysis failed for %r", what[:200])
        analyser.event("analysis-error", what[:80], ctx)
    return verdict_of(analyser)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def check_exec(
    argv: Sequence[str],
    rules: RuleSet | None = None,
    *,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> Verdict:
    """Check what ``execve(argv)`` would do, with that input, environment and files.

    :param argv: the argument vector, ``argv[0]`` the program (no shell around it).
    :param rules: the rule set (default: the built-in rules).
    :param stdin: what the program reads on its standard input (None: nothing).
    :param env: variables added to its environment (see :mod:`._envvars`).
    :param files: files the action writes before running, path → text (the
        temporary script of ``exec.script``); a program or script argument naming
        one of them is read.
    :param cwd: the working directory, if known (resolves relative paths).
    :returns: the most severe :class:`Verdict`, like :func:`check_command`.
    """
    what = " ".join(str(a) for a in argv) if isinstance(argv, list | tuple) else repr(argv)

    def body(analyser: Analyser, ctx: Ctx) -> None:
        bad = _malformed(argv, stdin, env, files, cwd)
        if bad:
            analyser.parsed = False
            analyser.event("unparseable", bad, ctx)
            return
        words = [a.replace("\x00", "") for a in argv]
        where = normalise_path(cwd) if cwd and cwd.startswith("/") else None
        shell_env = Env(cwd=where)
        for path, text in (files or {}).items():
            key = normalise_path(path if path.startswith("/") or where is None else f"{where}/{path}")
            shell_env.files[key] = text.encode("utf-8", "surrogatepass")
        analyser.files = shell_env.files
        data = (stdin or "").encode("utf-8", "surrogatepass")
        names = dict(env or {})
        words = _peel_env(words, names)
        for name, value in names.items():
            if name in _NOT_IMPORTED:
                continue  # the shell resets it at start: reading it would misread the words
            shell_env.vars[name] = value
            analyser.exported[name] = value
        check_environment(analyser, names, shell_env, data, ctx)
        if not words:
            return
        analyser._run([Word.of(w) for w in words], [], shell_env, data, ctx)

    return analyse(rules, what, body)


def _malformed(
    argv: object, stdin: object, env: object, files: object, cwd: object
) -> str:
    """What makes the request unreadable (a field of the wrong type or size), else ''."""
    if isinstance(argv, str | bytes) or not isinstance(argv, Sequence):
        return f"argv must be a list of strings, not {type(argv).__name__}"
    if not all(isinstance(a, str) for a in argv):
        return "argv holds a value that is not a string"
    if stdin is not None and not isinstance(stdin, str):
        return f"stdin must be a string, not {type(stdin).__name__}"
    for name, mapping in (("env", env), ("files", files)):
        if mapping is None:
            continue
        if not isinstance(mapping, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            return f"{name} must map strings to strings"
    if cwd is not None and not isinstance(cwd, str):
        return f"cwd must be a string, not {type(cwd).__name__}"
    size = sum(len(a) for a in argv) + len(stdin or "")  # type: ignore[arg-type]
    for mapping in (env, files):
        if isinstance(mapping, Mapping):
            size += sum(len(k) + len(v) for k, v in mapping.items())
    if size > 4 * MAX_INPUT:
        return f"the request is too large to check ({size} characters)"
    return ""


_NOT_IMPORTED = frozenset({"IFS", "PPID", "UID", "EUID", "BASHPID", "SHELLOPTS", "BASHOPTS"})
"""Variables bash and dash do not take from the environment (tested: an imported IFS is ignored)."""
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(%%|\(\))?=")
_SUDO_VALUE_OPTIONS = frozenset({"-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U", "-T", "-R"})


def _peel_env(words: list[str], names: dict[str, str]) -> list[str]:
    """``env [-i] [-u N] [NAME=VALUE]… CMD…``: the assignments join ``names`` (checked
    like the declared environment); the words stay, so the walk still sees ``env``."""
    i = 0
    while i < len(words) and program_name(Word.of(words[i])) in ("sudo", "doas"):
        # sudo [options] [NAME=VALUE]… CMD: root may set any variable this way.
        j = i + 1
        while j < len(words) and words[j].startswith("-") and words[j] != "--":
            j += 2 if words[j] in _SUDO_VALUE_OPTIONS else 1
        j += 1 if j < len(words) and words[j] == "--" else 0
        while j < len(words) and _ASSIGNMENT.match(words[j]):
            name, _, value = words[j].partition("=")
            names[name] = value
            j += 1
        i = j
    while i < len(words) and program_name(Word.of(words[i])) == "env":
        j = i + 1
        while j < len(words):
            t = words[j]
            if t in ("-u", "--unset", "-C", "--chdir"):
                j += 2
            elif t.startswith("-") and not t.startswith(("-S", "--split-string")) and t != "-":
                j += 1
            elif _ASSIGNMENT.match(t):
                name, _, value = t.partition("=")
                names[name] = value
                j += 1
            else:
                break
        if j >= len(words) or words[j].startswith(("-S", "--split-string")):
            return words
        i = j
    return words
