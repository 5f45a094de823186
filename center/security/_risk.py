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

from typing import Any

from ._exec import SCRIPT_PATH, analyse, check_exec
from ._expand import Env
from ._rules import RuleSet, default_rules, normalise_path
from ._verdict import EXIT_STATUS, Finding, Verdict
from ._walk import Analyser, Ctx

__all__ = [
    "EXIT_STATUS",
    "Finding",
    "Verdict",
    "check_command",
    "check_exec",
    "check_script",
    "risk_check",
]

def _cwd(cwd: object) -> str | None:
    return normalise_path(cwd) if isinstance(cwd, str) and cwd.startswith("/") else None


def check_command(cmd: str, rules: RuleSet | None = None, *, cwd: str | None = None) -> Verdict:
    """Check one shell command line (``exec.run``, a terminal input line).

    :param cmd: the command as the caller sent it.
    :param rules: the rule set (default: the built-in rules).
    :param cwd: the directory it will run in, if known (resolves relative paths).
    """
    if not isinstance(cmd, str):
        return check_exec([cmd], rules)  # type: ignore[list-item]  # refused as unparseable

    def body(analyser: Analyser, ctx: Ctx) -> None:
        analyser.script(cmd.replace("\x00", ""), Env(cwd=_cwd(cwd)), b"", ctx)

    return analyse(rules, cmd, body)


def check_script(
    body: str, interpreter: str = "", rules: RuleSet | None = None, *, cwd: str | None = None
) -> Verdict:
    """Check a script (``exec.script``) for the interpreter that will run it.

    The same as :func:`check_exec` of ``[*interpreter.split(), SCRIPT_PATH]`` with
    the body as that file: shell scripts are analysed like commands, python,
    perl, ruby, node, php, lua and awk programs are read for the commands they
    run and the files they destroy (and get the ``foreign-script`` rule), other
    languages are held (``unknown-language``).

    :param interpreter: e.g. ``bash`` or ``/usr/bin/python3``; empty: the ``#!`` line, else sh.
    """
    interp = interpreter.strip() if isinstance(interpreter, str) else ""
    if not interp and isinstance(body, str) and not body.startswith("#!"):
        interp = "/bin/sh"
    return check_exec([*interp.split(), SCRIPT_PATH], rules, files={SCRIPT_PATH: body}, cwd=_cwd(cwd))


def risk_check(
    command: str, rules: RuleSet | None = None, *, cwd: str | None = None
) -> tuple[dict[str, Any], str]:
    """What ``starling risk check -- 'COMMAND'`` prints: a dict for ``--json`` and a
    one-line summary for people. The exit status is :data:`EXIT_STATUS` of the verdict."""
    verdict = check_command(command, rules, cwd=cwd)
    data = {"command": command} | verdict.as_dict()
    data["rules_files"] = list((rules or default_rules()).files)
    return data, verdict.one_line()

