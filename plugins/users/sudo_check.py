"""Validate sudoers syntax and permissions before sudo locks everyone out.

``user.sudo.check`` runs ``visudo -c`` on the installed configuration (``/etc/sudoers``
and every file it includes), on one file, or on text you are about to deploy
(``content``, checked in a private temporary file), and returns each file's
verdict and every syntax error with file, line and column. It also flags
what visudo does not: files in ``/etc/sudoers.d`` that sudo silently skips
(a name with a dot or ending in ``~``) and files sudo refuses to read (not
owned by root, or writable by group or others). Read only.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile

import msgspec

from agent_core import ActionContext, InvalidParams, NotFound, Plugin, Risk, action

PLUGIN = Plugin(
    "user.sudo.check", domain="users", requires=["visudo"]
)

SUDOERS = "/etc/sudoers"
SUDOERS_D = "/etc/sudoers.d"
_NEW = re.compile(r"^(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): (?P<msg>.+)$")
_OLD = re.compile(r"^>>> (?P<file>.+?): (?P<msg>.+?) near line (?P<line>\d+) <<<$")
_PARSE = re.compile(r"^parse error in (?P<file>.+?) near line (?P<line>\d+)")
_OK = re.compile(r"^(?P<file>.+?): parsed OK$")


class SudoCheckParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str | None = None
    """One sudoers file to check (default: the whole installed configuration)."""
    content: str | None = None
    """Sudoers text to check before installing it."""


class SyntaxProblem(msgspec.Struct):
    file: str
    line: int
    column: int | None
    message: str


class CheckedFile(msgspec.Struct):
    path: str
    ok: bool


class SudoCheck(msgspec.Struct):
    ok: bool
    files: list[CheckedFile]
    errors: list[SyntaxProblem]
    warnings: list[str]


def parse_visudo(
    text: str, rename: dict[str, str]
) -> tuple[list[CheckedFile], list[SyntaxProblem]]:
    files: list[CheckedFile] = []
    errors: list[SyntaxProblem] = []
    for line in text.splitlines():
        line = line.strip()
        if m := _OK.match(line):
            files.append(CheckedFile(path=rename.get(m["file"], m["file"]), ok=True))
        elif m := _NEW.match(line):
            errors.append(
                SyntaxProblem(
                    file=rename.get(m["file"], m["file"]),
                    line=int(m["line"]),
                    column=int(m["col"]),
                    message=m["msg"],
                )
            )
        elif (m := _OLD.match(line)) or (m := _PARSE.match(line)):
            msg = m.groupdict().get("msg") or "parse error"
            errors.append(
                SyntaxProblem(
                    file=rename.get(m["file"], m["file"]),
                    line=int(m["line"]),
                    column=None,
                    message=msg,
                )
            )
    bad_files = {e.file for e in errors}
    files += [
        CheckedFile(path=f, ok=False) for f in sorted(bad_files) if f not in {x.path for x in files}
    ]
    return files, errors


def permission_warnings(paths: list[str]) -> list[str]:
    out = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_uid != 0:
            out.append(f"{path} is owned by uid {st.st_uid}: sudo refuses files not owned by root")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            out.append(
                f"{path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):04o}): sudo refuses it"
            )
    return out


def skipped_includes(directory: str = SUDOERS_D) -> list[str]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    return [
        f"{directory}/{n} is ignored by sudo (names with '.' or ending in '~' are skipped)"
        for n in names
        if "." in n or n.endswith("~")
    ]


def _installed_files() -> list[str]:
    files = [SUDOERS]
    try:
        files += [
            os.path.join(SUDOERS_D, n)
            for n in sorted(os.listdir(SUDOERS_D))
            if "." not in n and not n.endswith("~")
        ]
    except OSError:
        pass
    return files


def _write_temp(content: str) -> str:
    fd, tmp = tempfile.mkstemp(prefix="starling-sudoers-")
    with os.fdopen(fd, "w") as fh:
        fh.write(content if content.endswith("\n") else content + "\n")
    os.chmod(tmp, 0o440)
    return tmp


@action("user.sudo.check", risk=Risk.READ, timeout=30)
async def check(ctx: ActionContext, p: SudoCheckParams) -> SudoCheck:
    """visudo's verdict per file, syntax errors with line/column, and permission/skip warnings."""
    if p.path is not None and p.content is not None:
        raise InvalidParams("give path or content, not both")
    rename: dict[str, str] = {}
    tmp = None
    warnings: list[str] = []
    if p.content is not None:
        if len(p.content) > 1024 * 1024:
            raise InvalidParams("content: at most 1 MiB")
        tmp = _write_temp(p.content)
        rename[tmp] = "<content>"
        argv = ["visudo", "-c", "-f", tmp]
    elif p.path is not None:
        if not os.path.isabs(p.path):
            raise InvalidParams(f"path: {p.path!r} is not an absolute path")
        if not _is_file(p.path):
            raise NotFound(f"{p.path} does not exist")
        argv = ["visudo", "-c", "-f", p.path]
        warnings += permission_warnings([p.path])
    else:
        if not _is_file(SUDOERS):
            raise NotFound(f"{SUDOERS} does not exist")
        argv = ["visudo", "-c"]
        warnings += permission_warnings(_installed_files()) + skipped_includes()
    try:
        res = await ctx.run(argv, c_locale=True)
    finally:
        if tmp is not None:
            os.unlink(tmp)
    files, errors = parse_visudo(res.stdout + "\n" + res.stderr, rename)
    ok = res.exit_code == 0 and not errors
    if not ok and not errors:
        text = (res.stderr or res.stdout).strip().replace(tmp or "\0", "<content>")
        errors.append(
            SyntaxProblem(
                file=rename.get(argv[-1], argv[-1]),
                line=0,
                column=None,
                message=text or f"visudo exited {res.exit_code}",
            )
        )
    return SudoCheck(ok=ok, files=files, errors=errors, warnings=warnings)


def _is_file(path: str) -> bool:
    return os.path.isfile(path)
