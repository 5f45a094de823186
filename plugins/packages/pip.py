"""Python packages installed for a given interpreter, through its own pip.

``pkg.pip.list`` lists the distributions an interpreter sees (``python -m pip
list``) with versions, and which are editable installs or installed with
``--user``; ``pkg.pip.show`` gives one distribution's version, summary, license,
location, what it requires and what requires it; ``pkg.pip.check`` reports
broken requirements (a missing or incompatible dependency). Point
``python`` at any interpreter: the system one, a virtualenv's, an
application's bundled Python. Nothing is installed or upgraded. pip is not
a ``pkg.*`` backend: its packages belong to one interpreter, not to the
host, so they are asked for by interpreter here.
"""

from __future__ import annotations

import json
import os
import re
import shutil

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    Unavailable,
    action,
)

PLUGIN = Plugin("pkg.pip", domain="packages")

_DIST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class PipListParams(msgspec.Struct, forbid_unknown_fields=True):
    python: str = "python3"
    """Interpreter: an absolute path or a name on PATH."""
    user: bool = False
    """Only packages installed with ``--user``."""
    not_required: bool = False
    """Only top-level packages (nothing else requires them)."""


class PipShowParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    python: str = "python3"


class PipCheckParams(msgspec.Struct, forbid_unknown_fields=True):
    python: str = "python3"


class Dist(msgspec.Struct):
    name: str
    version: str
    editable_location: str = ""


class PipList(msgspec.Struct):
    python: str
    packages: list[Dist]
    count: int


class PipShow(msgspec.Struct):
    name: str
    version: str
    summary: str
    home_page: str
    author: str
    license: str
    location: str
    requires: list[str]
    required_by: list[str]
    installer: str


class PipCheck(msgspec.Struct):
    python: str
    ok: bool
    problems: list[str]


def interpreter(python: str) -> str:
    """Resolve ``python`` to an executable path (A002 for nonsense, A017 when absent)."""
    if "/" in python:
        if not os.path.isabs(python):
            raise InvalidParams(f"python: {python!r} must be an absolute path or a plain name")
        if not os.access(python, os.X_OK):
            raise NotFound(f"no interpreter at {python}")
        return python
    if not re.match(r"^python[0-9.]*$", python):
        raise InvalidParams(f"python: {python!r} is not a python interpreter name")
    found = shutil.which(python)
    if found is None:
        raise NotFound(f"{python} is not on PATH")
    return found


async def pip(ctx: ActionContext, python: str, args: list[str]) -> str:
    env = {
        **os.environ,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_INPUT": "1",
        "PIP_NO_COLOR": "1",
    }
    # cwd "/": "python -m" puts the working directory first on sys.path.
    res = await ctx.run([python, "-m", "pip", *args], env=env, cwd="/", c_locale=True)
    if res.exit_code != 0:
        err = res.stderr.strip()
        if "No module named pip" in err:
            raise Unavailable(f"pip is not installed for {python}")
        if args[0] == "check":
            return res.stdout
        if "not found" in err.lower():
            raise NotFound(err.splitlines()[-1])
        raise ActionError(
            f"pip {args[0]} failed: {err.splitlines()[-1] if err else res.exit_code}",
            code=ErrorCode.A008,
            data=res,
        )
    return res.stdout


@action("pkg.pip.list", risk=Risk.READ, timeout=60)
async def pip_list(ctx: ActionContext, p: PipListParams) -> PipList:
    """Distributions installed for an interpreter, with version and editable location."""
    python = interpreter(p.python)
    args = [
        "list",
        "--format=json",
        *(["--user"] if p.user else []),
        *(["--not-required"] if p.not_required else []),
    ]
    try:
        rows = json.loads(await pip(ctx, python, args) or "[]")
    except ValueError as exc:
        raise ActionError(f"pip list printed no JSON: {exc}", code=ErrorCode.A008) from exc
    dists = [
        Dist(
            name=r["name"],
            version=r["version"],
            editable_location=r.get("editable_project_location", ""),
        )
        for r in rows
    ]
    return PipList(python=python, packages=dists, count=len(dists))


@action("pkg.pip.show", risk=Risk.READ, timeout=60)
async def pip_show(ctx: ActionContext, p: PipShowParams) -> PipShow:
    """Version, summary, license, location, requires and required-by of one distribution."""
    python = interpreter(p.python)
    if not _DIST.match(p.name):
        raise InvalidParams(f"name: {p.name!r} is not a distribution name")
    text = await pip(ctx, python, ["show", p.name])
    f: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition(": ")
        if sep and not line.startswith(" "):
            f[k.strip()] = v.strip()
        elif line.endswith(":"):
            f[line[:-1]] = ""
    if "Name" not in f:
        raise NotFound(f"{p.name} is not installed for {python}")

    def names(key: str) -> list[str]:
        return [x.strip() for x in f.get(key, "").split(",") if x.strip()]

    return PipShow(
        name=f["Name"],
        version=f.get("Version", ""),
        summary=f.get("Summary", ""),
        home_page=f.get("Home-page", ""),
        author=f.get("Author", ""),
        license=f.get("License", ""),
        location=f.get("Location", ""),
        requires=names("Requires"),
        required_by=names("Required-by"),
        installer=f.get("Installer", ""),
    )


@action("pkg.pip.check", risk=Risk.READ, timeout=60)
async def pip_check(ctx: ActionContext, p: PipCheckParams) -> PipCheck:
    """Broken requirements among an interpreter's installed distributions."""
    python = interpreter(p.python)
    text = await pip(ctx, python, ["check"])
    problems = [
        ln.strip()
        for ln in text.splitlines()
        if ln.strip() and not ln.startswith("No broken requirements")
    ]
    return PipCheck(python=python, ok=not problems, problems=problems)
