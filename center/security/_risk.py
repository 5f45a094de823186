"""High-risk command interception: parse a command, walk it, match the rules.

The command is parsed with bashlex (a real shell parser; constructs it cannot
read are rewritten first, see :mod:`._shellscan`), then walked like a shell
would run it, without running anything: variables, aliases and functions the
command defines are followed, words are expanded symbolically
(:mod:`._expand`), wrappers are looked through (``sudo``, ``env``, ``xargs``,
``sh -c``, ``eval``, ``ssh`` … see :mod:`._programs`), and data that flows into
a shell (``echo … | base64 -d | sh``) is computed and checked as a script in
turn. Every simple command met on the way, and every redirection, is matched
against the rules (:mod:`._rules`, :mod:`._match`).

Verdicts, most severe first: ``block`` > ``approve`` > ``warn`` > ``allow``.
Text that cannot be parsed at all is split into simple commands as well as
can be done and gets at least the ``unparseable`` rule's verdict (approve by
default): what cannot be read is not waved through.
"""

from __future__ import annotations

import logging
from typing import Any

from ._expand import Env, Word
from ._programs import SHELLS, foreign_shellouts, program_name
from ._rules import ACTIONS, RuleSet, default_rules, normalise_path
from ._verdict import EXIT_STATUS, Finding, Verdict
from ._walk import Analyser, Ctx, LimitReached

__all__ = [
    "EXIT_STATUS",
    "Finding",
    "Verdict",
    "check_command",
    "check_script",
    "risk_check",
]

_log = logging.getLogger(__name__)


def _verdict(analyser: Analyser) -> Verdict:
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


def check_command(cmd: str, rules: RuleSet | None = None, *, cwd: str | None = None) -> Verdict:
    """Check one shell command line (``cmd.run``, a terminal input line).

    :param cmd: the command as the caller sent it.
    :param rules: the rule set (default: the built-in rules).
    :param cwd: the directory it will run in, if known (resolves relative paths).
    """
    analyser = Analyser(rules or default_rules())
    env = Env(cwd=normalise_path(cwd) if cwd and cwd.startswith("/") else None)
    try:
        analyser.script(cmd.replace("\x00", ""), env, b"", Ctx())
    except (LimitReached, RecursionError):
        analyser.event("limit", cmd[:80], Ctx())
    except Exception:  # a bug here must hold the command, not wave it through or crash
        _log.exception("risk analysis failed for %r", cmd[:200])
        analyser.event("analysis-error", cmd[:80], Ctx())
    return _verdict(analyser)


def check_script(
    body: str, interpreter: str = "", rules: RuleSet | None = None, *, cwd: str | None = None
) -> Verdict:
    """Check a script (``cmd.script``) for the interpreter that will run it.

    Shell scripts are analysed like commands. For other interpreters (python,
    perl, …) only the shell commands the script spells out (``os.system("…")``,
    ``subprocess.run([...])``, backticks) are checked, and the ``foreign-script``
    rule says so.

    :param interpreter: e.g. ``bash`` or ``/usr/bin/python3``; empty: the ``#!`` line, else sh.
    """
    interp = interpreter.strip()
    if not interp and body.startswith("#!"):
        interp = body[2:].split("\n", 1)[0].strip()
    words = interp.split() or ["sh"]
    prog = program_name(Word.of(words[0]))
    if prog == "env" and len(words) > 1:
        prog = program_name(Word.of(next((w for w in words[1:] if not w.startswith("-")), "sh")))
    if prog in SHELLS or prog == "busybox":
        return check_command(body, rules, cwd=cwd)
    analyser = Analyser(rules or default_rules())
    ctx = Ctx(via=(f"{prog} script",))
    env = Env(cwd=normalise_path(cwd) if cwd and cwd.startswith("/") else None)
    try:
        for inner in foreign_shellouts(prog, body):
            analyser._inner(inner, env, b"", ctx.step(inner.label), b"")
    except (LimitReached, RecursionError):
        analyser.event("limit", body[:80], ctx)
    except Exception:
        _log.exception("risk analysis failed for a %s script", prog)
        analyser.event("analysis-error", body[:80], ctx)
    analyser.event("foreign-script", prog, ctx)
    return _verdict(analyser)


def risk_check(
    command: str, rules: RuleSet | None = None, *, cwd: str | None = None
) -> tuple[dict[str, Any], str]:
    """What ``starling risk check -- 'COMMAND'`` prints: a dict for ``--json`` and a
    one-line summary for people. The exit status is :data:`EXIT_STATUS` of the verdict."""
    verdict = check_command(command, rules, cwd=cwd)
    data = {"command": command} | verdict.as_dict()
    data["rules_files"] = list((rules or default_rules()).files)
    return data, verdict.one_line()

