"""Environment variables that carry code or change what runs.

A job's environment is as much a way to run code as its command line:
``BASH_ENV=/dev/stdin`` makes bash source its standard input before anything
else, ``LD_PRELOAD`` loads a library into every program, ``PYTHONSTARTUP``,
``PERL5OPT``, ``NODE_OPTIONS`` feed code to interpreters, ``PATH`` decides
which ``rm`` runs. Two treatments:

* **analysed** — variables whose value *is* code the analyser can read are read
  as such, and their findings count like the command's own: ``BASH_ENV`` and
  ``ENV`` (a file the shell sources, the job's own file or its stdin),
  ``BASH_FUNC_name%%`` (an exported bash function), variables holding a shell
  command some program runs (``GIT_SSH_COMMAND``, ``PAGER``, ``EDITOR``,
  ``PROMPT_COMMAND`` …) and prompts expanded with ``$(…)`` (``PS1``–``PS4``).
* **ruled** — every other variable is matched against the ``kind = "env"``
  rules (``names_any``, ``unless_value_regex``), and so is an analysed one whose
  value cannot be read (``BASH_ENV`` naming a file on the host).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._expand import Env, Unknown
from ._rules import normalise_path

if TYPE_CHECKING:
    from ._walk import Analyser, Ctx

__all__ = ["COMMAND_VARS", "PROMPT_VARS", "STARTUP_VARS", "STDIN_PATHS", "check_environment"]

STARTUP_VARS = frozenset({"BASH_ENV", "ENV"})
"""A file the shell sources before the script (its name is expanded first)."""
COMMAND_VARS = frozenset(
    {"PROMPT_COMMAND", "GIT_SSH_COMMAND", "GIT_SSH", "GIT_EDITOR", "GIT_PAGER", "GIT_ASKPASS",
     "GIT_PROXY_COMMAND", "GIT_EXTERNAL_DIFF", "EDITOR", "VISUAL", "PAGER", "MANPAGER", "SYSTEMD_PAGER",
     "SYSTEMD_EDITOR", "SUDO_EDITOR", "LESSOPEN", "LESSCLOSE", "SSH_ASKPASS", "SUDO_ASKPASS", "BROWSER",
     "RSYNC_RSH", "CVS_RSH", "FCEDIT", "MAILER", "TAR_OPTIONS_COMMAND", "PSQL_PAGER", "MYSQL_PS1"}
)  # fmt: skip
"""Variables whose value is a shell command that some program runs."""
PROMPT_VARS = frozenset({"PS0", "PS1", "PS2", "PS3", "PS4"})
"""Expanded like a double-quoted string (``$(…)`` runs) whenever printed (PS4: under ``set -x``)."""
STDIN_PATHS = frozenset({"/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"})
_FUNC = re.compile(r"BASH_FUNC_(.+?)(%%|\(\))?$")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\$", "\\$") + '"'


def check_environment(
    analyser: Analyser,
    names: Mapping[str, str],
    env: Env,
    stdin: bytes | Unknown,
    ctx: Ctx,
    *,
    apply_rules: bool = True,
) -> None:
    """Read every code-carrying variable of ``names``; match the rest against the
    ``env`` rules (when ``apply_rules``: a job's declared environment, not a shell
    line's own ``NAME=value`` prefixes, which the operator wrote in plain sight)."""
    for name, value in names.items():
        label = f"env {name}"
        handled = False
        if name in STARTUP_VARS:
            handled = _startup(analyser, name, value, env, stdin, ctx.step(label))
        elif m := _FUNC.fullmatch(name):
            if value.lstrip().startswith("("):
                analyser.script(f"{m.group(1)} {value}", env, b"", ctx.step(label))
                handled = True
        elif name in COMMAND_VARS:
            analyser.script(value, env.copy(), b"", ctx.step(label))
            handled = True
        elif name in PROMPT_VARS:
            analyser.script(": " + _quoted(value), env.copy(), b"", ctx.step(label))
            handled = True
        if not handled and apply_rules:
            _rules(analyser, name, value, ctx)


def _startup(analyser: Analyser, name: str, value: str, env: Env, stdin: bytes | Unknown, ctx: Ctx) -> bool:
    """``BASH_ENV`` / ``ENV``: read the file they name; False when it cannot be read."""
    if not value.strip():
        return True
    if "$" in value or "`" in value:
        # bash expands the value (parameter, command and arithmetic expansion) first.
        analyser.script(": " + _quoted(value), env.copy(), b"", ctx)
        return False
    path = normalise_path(value, env.cwd)
    if path in STDIN_PATHS:
        analyser._script_data(stdin, None, ctx.step("<stdin"))
        return True
    data = env.files.get(path)
    if data is None:
        return False
    analyser._script_data(data, None, ctx.step(path))
    return True


def _rules(analyser: Analyser, name: str, value: str, ctx: Ctx) -> None:
    for rule in analyser.rules.by_kind("env"):
        if not any(p.fullmatch(name) for p in rule.names_any):
            continue
        if rule.unless_value_regex is not None and rule.unless_value_regex.fullmatch(value):
            continue
        shown = value if len(value) <= 60 else value[:57] + "…"
        analyser._add(rule, "certain", f"{name}={shown}", ctx)
