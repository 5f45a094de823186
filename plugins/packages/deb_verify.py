"""Check installed Debian packages' files against their recorded checksums.

``deb.verify`` runs ``dpkg --verify`` for one package or for all of them and
returns every file whose content no longer matches what the package shipped
(checksum changed), or that is missing, marking configuration files (edited
on purpose, usually) apart from the rest (a modified ``/usr/bin`` binary
deserves a look). With ``root`` it checks an image or chroot. Read only, but
reading every file of every package takes a while on a big host.
"""

from __future__ import annotations

import re

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    NotFound,
    Plugin,
    Risk,
    action,
    root_dir,
)

from ._common import deb_name

PLUGIN = Plugin(
    "deb.verify", domain="packages", requires=["dpkg"]
)

# dpkg --verify uses the rpm -V layout; only the md5 column ("5") is checked today.
_LINE = re.compile(r"^(missing  |[?.5SMDLUGT]{9}) ([c ]) (/.*?)(?: \((.*)\))?$")


class VerifyParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    """One package, or every installed package when omitted."""
    root: str | None = None


class ChangedFile(msgspec.Struct):
    path: str
    problem: str
    """``checksum`` or ``missing``."""
    conffile: bool
    flags: str


class Verification(msgspec.Struct):
    ok: bool
    changed: list[ChangedFile]
    changed_non_config: int


def parse_verify(text: str) -> list[ChangedFile]:
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        flags, conf, path, _ = m.groups()
        problem = (
            "missing"
            if flags.startswith("missing")
            else "checksum"
            if "5" in flags
            else "attributes"
        )
        out.append(
            ChangedFile(path=path, problem=problem, conffile=conf == "c", flags=flags.strip())
        )
    return out


@action("deb.verify", risk=Risk.READ, timeout=900)
async def verify(ctx: ActionContext, p: VerifyParams) -> Verification:
    """Files of one or all packages whose checksum changed or that are missing."""
    root = root_dir(p.root)
    argv = ["dpkg", *([f"--root={root}"] if root else []), "--verify"]
    if p.name is not None:
        argv += ["--", deb_name(p.name)]
    res = await ctx.run(argv, c_locale=True)
    if res.exit_code != 0 and not res.stdout.strip():
        if "not installed" in res.stderr:
            raise NotFound(f"package {p.name} is not installed")
        raise ActionError(
            f"dpkg --verify failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res
        )
    changed = parse_verify(res.stdout)
    return Verification(
        ok=not changed,
        changed=changed,
        changed_non_config=sum(1 for c in changed if not c.conffile),
    )
