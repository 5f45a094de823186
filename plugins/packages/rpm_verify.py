"""Check installed RPM packages' files against the RPM database.

``rpm.verify`` runs ``rpm -V`` for one package or all of them and returns
every file that differs from what the package installed, decoding rpm's
flags into words (size, mode, checksum, device, link target, owner, group,
mtime, capabilities) and marking configuration, documentation and ghost
files, so an edited ``/etc`` file is told apart from a tampered binary.
Missing files are listed too. With ``root`` it checks an image or chroot.
Read only; verifying every package reads every file.
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

from ._common import rpm_name
from ._rpm import rpm

PLUGIN = Plugin(
    "rpm.verify", domain="packages", requires=["rpm"]
)

_FLAGS = {
    "S": "size",
    "M": "mode",
    "5": "checksum",
    "D": "device",
    "L": "link",
    "U": "owner",
    "G": "group",
    "T": "mtime",
    "P": "capabilities",
}
_KINDS = {"c": "config", "d": "doc", "g": "ghost", "l": "license", "r": "readme", "a": "artifact"}
_LINE = re.compile(r"^(missing|[SM5DLUGTP.?]{8,9})\s+(?:([cdglra])\s)?\s*(/.*)$")


class RpmVerifyParams(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    root: str | None = None


class RpmChange(msgspec.Struct):
    path: str
    missing: bool
    changed: list[str]
    """Words for rpm's flags: ``size``, ``checksum``, ``mtime``, ``mode``..."""
    kind: str
    """``config``, ``doc``, ``ghost``... or empty for a normal file."""


class RpmVerification(msgspec.Struct):
    ok: bool
    changes: list[RpmChange]


def parse_verify(text: str) -> list[RpmChange]:
    out = []
    for line in text.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        flags, kind, path = m.groups()
        missing = flags == "missing"
        out.append(
            RpmChange(
                path=path,
                missing=missing,
                changed=[] if missing else [word for ch, word in _FLAGS.items() if ch in flags],
                kind=_KINDS.get(kind or "", ""),
            )
        )
    return out


@action("rpm.verify", risk=Risk.READ, timeout=900)
async def verify(ctx: ActionContext, p: RpmVerifyParams) -> RpmVerification:
    """Files of one or all packages that differ from the RPM database, flags decoded."""
    args = ["-V", "--", rpm_name(p.name)] if p.name else ["-Va"]
    res = await rpm(ctx, args, root_dir(p.root))
    if res.exit_code != 0 and "is not installed" in res.stdout + res.stderr:
        raise NotFound(f"package {p.name} is not installed")
    changes = parse_verify(res.stdout)
    if res.exit_code != 0 and not changes:
        raise ActionError(f"rpm -V failed: {res.stderr.strip()}", code=ErrorCode.A008, data=res)
    return RpmVerification(ok=not changes, changes=changes)
