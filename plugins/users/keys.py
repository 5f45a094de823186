"""SSH authorized keys of a user: list with fingerprints, add, remove.

``user.keys`` parses a user's ``~/.ssh/authorized_keys``: each key's type,
size, SHA256 fingerprint (as ``ssh-keygen -l`` prints it), comment and
options (``from=``, ``command=``...), and the permission problems that make
sshd silently ignore the file (``StrictModes``: a group- or world-writable
file or directory, or one not owned by the user). ``user.keys.add`` appends
a key after checking it is a well-formed public key (adding one already
present changes nothing); ``user.keys.remove`` deletes keys by fingerprint or
comment. Writes are atomic and keep ``~/.ssh`` at 0700 and the file at 0600,
owned by the user. ``path`` points at another file (``AuthorizedKeysFile``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import stat
import struct
from typing import Annotated

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    ErrorCode,
    InvalidParams,
    NotFound,
    Plugin,
    Risk,
    action,
    atomic_write,
    code,
)

from ._common import require_user

PLUGIN = Plugin("user.keys", domain="users")

KEY_TYPES = {
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ssh-ed448",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
}
_CERT = "-cert-v01@openssh.com"


class KeysParams(msgspec.Struct, forbid_unknown_fields=True):
    user: str
    path: str | None = None


class AddKeyParams(msgspec.Struct, forbid_unknown_fields=True):
    user: str
    key: str
    """One public key line: ``[options] type base64 [comment]``."""
    path: Annotated[str, code("path")] | None = None


class RemoveKeyParams(msgspec.Struct, forbid_unknown_fields=True):
    user: str
    fingerprint: str | None = None
    comment: str | None = None
    path: str | None = None


class Key(msgspec.Struct):
    line: int
    type: str
    bits: int | None
    fingerprint: str
    comment: str
    options: str


class Keys(msgspec.Struct):
    user: str
    path: str
    exists: bool
    keys: list[Key]
    invalid_lines: list[int]
    problems: list[str]


class KeyChange(msgspec.Struct):
    user: str
    path: str
    changed: bool
    fingerprints: list[str]
    """Fingerprints added or removed."""
    keys: int
    """Keys in the file afterwards."""


def _split_options(line: str) -> tuple[str, str]:
    """Split a leading options field (which may hold quoted commas and spaces) from the key."""
    first = line.split(None, 1)[0]
    if first in KEY_TYPES or first.endswith(_CERT):
        return "", line
    quoted = False
    for i, ch in enumerate(line):
        if ch == '"':
            quoted = not quoted
        elif ch in " \t" and not quoted:
            return line[:i], line[i:].strip()
    return line, ""


def _bits(kind: str, blob: bytes) -> int | None:
    base = kind.replace(_CERT, "")
    if base in ("ssh-ed25519", "sk-ssh-ed25519@openssh.com"):
        return 256
    if base == "ssh-ed448":
        return 456
    if base.startswith(("ecdsa-sha2-nistp", "sk-ecdsa-sha2-nistp")):
        return int(base.split("nistp")[1].split("@")[0])
    if base in ("ssh-rsa", "ssh-dss") and not kind.endswith(_CERT):
        # string type, mpint e (rsa) / p (dsa), mpint n (rsa) ...
        fields: list[bytes] = []
        off = 0
        while off + 4 <= len(blob) and len(fields) < 3:
            (n,) = struct.unpack(">I", blob[off : off + 4])
            fields.append(blob[off + 4 : off + 4 + n])
            off += 4 + n
        target = (
            fields[2]
            if base == "ssh-rsa" and len(fields) > 2
            else fields[1]
            if len(fields) > 1
            else b""
        )
        return int.from_bytes(target, "big").bit_length() or None
    return None


def parse_key(line: str, number: int = 0) -> Key | None:
    """A public-key line, or ``None`` when it is not a well-formed key."""
    line = line.strip()
    if not line or line.startswith("#"):
        return None
    options, rest = _split_options(line)
    parts = rest.split(None, 2)
    if len(parts) < 2:
        return None
    kind, data = parts[0], parts[1]
    if kind not in KEY_TYPES and not (
        kind.endswith(_CERT) and kind.replace(_CERT, "") in KEY_TYPES
    ):
        return None
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    # The blob starts with its own key type: a mismatch means a mangled paste.
    if len(blob) < 4:
        return None
    (n,) = struct.unpack(">I", blob[:4])
    if blob[4 : 4 + n].decode("ascii", "replace") != kind:
        return None
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return Key(
        line=number,
        type=kind,
        bits=_bits(kind, blob),
        fingerprint=f"SHA256:{digest}",
        comment=parts[2] if len(parts) > 2 else "",
        options=options,
    )


def _target(user: str, path: str | None) -> tuple[int, int, str]:
    pw = require_user(user)
    if path is None:
        return pw.pw_uid, pw.pw_gid, os.path.join(pw.pw_dir, ".ssh", "authorized_keys")
    if not os.path.isabs(path):
        raise InvalidParams(f"path: {path!r} is not an absolute path")
    return pw.pw_uid, pw.pw_gid, os.path.normpath(path)


def _problems(uid: int, path: str) -> list[str]:
    """What sshd's StrictModes would refuse, checked up to the home directory."""
    out = []
    checks = [path, os.path.dirname(path)]
    for p in checks:
        try:
            st = os.stat(p)
        except OSError:
            continue
        if st.st_uid not in (uid, 0):
            out.append(f"{p} is owned by uid {st.st_uid}, not the user")
        if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            out.append(
                f"{p} is group- or world-writable (mode {stat.S_IMODE(st.st_mode):04o}): sshd ignores the keys"
            )
    return out


def _read(path: str) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        return None


def list_keys(user: str, path: str | None) -> Keys:
    uid, _, target = _target(user, path)
    lines = _read(target)
    keys: list[Key] = []
    invalid: list[int] = []
    for no, line in enumerate(lines or [], start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key = parse_key(line, no)
        if key is None:
            invalid.append(no)
        else:
            keys.append(key)
    return Keys(
        user=user,
        path=target,
        exists=lines is not None,
        keys=keys,
        invalid_lines=invalid,
        problems=_problems(uid, target) if lines is not None else [],
    )


def _write(uid: int, gid: int, path: str, lines: list[str]) -> None:
    """Replace ``path`` atomically, creating its directory (0700) if needed."""
    directory = os.path.dirname(path)
    if not os.path.isdir(os.path.dirname(directory)):
        raise NotFound(
            f"{os.path.dirname(directory)} does not exist (the user has no home directory)"
        )
    if os.path.islink(directory):
        raise ActionError(
            f"{directory} is a symbolic link; refusing to write through it", code=ErrorCode.A016
        )
    if not os.path.isdir(directory):
        os.mkdir(directory, 0o700)
        os.chown(directory, uid, gid)
    atomic_write(path, "".join(line + "\n" for line in lines), mode=0o600, uid=uid, gid=gid)


def add_key(user: str, key_line: str, path: str | None) -> KeyChange:
    if "\n" in key_line.strip() or "\r" in key_line:
        raise InvalidParams("key: give exactly one key line")
    key = parse_key(key_line)
    if key is None:
        raise InvalidParams("key: not a well-formed SSH public key (type, base64 blob, optional comment)")
    uid, gid, target = _target(user, path)
    lines = _read(target) or []
    present = {k.fingerprint for k in (parse_key(ln) for ln in lines) if k is not None}
    if key.fingerprint in present:
        return KeyChange(user=user, path=target, changed=False, fingerprints=[], keys=len(present))
    _write(uid, gid, target, [*lines, key_line.strip()])
    return KeyChange(
        user=user, path=target, changed=True, fingerprints=[key.fingerprint], keys=len(present) + 1
    )


def remove_keys(
    user: str, fingerprint: str | None, comment: str | None, path: str | None
) -> KeyChange:
    if (fingerprint is None) == (comment is None):
        raise InvalidParams("give exactly one of fingerprint or comment")
    uid, gid, target = _target(user, path)
    lines = _read(target)
    if lines is None:
        raise NotFound(f"{target} does not exist")
    keep: list[str] = []
    removed: list[str] = []
    for line in lines:
        key = parse_key(line)
        if key is not None and (
            key.fingerprint == fingerprint or (comment is not None and key.comment == comment)
        ):
            removed.append(key.fingerprint)
        else:
            keep.append(line)
    if not removed:
        raise NotFound(f"no key matching {fingerprint or comment!r} in {target}")
    _write(uid, gid, target, keep)
    remaining = sum(1 for ln in keep if parse_key(ln) is not None)
    return KeyChange(user=user, path=target, changed=True, fingerprints=removed, keys=remaining)


@action("user.keys", risk=Risk.READ, timeout=20)
async def keys(ctx: ActionContext, p: KeysParams) -> Keys:
    """A user's authorized keys with type, bits, fingerprint, comment, options and permission problems."""
    return list_keys(p.user, p.path)


@action("user.keys.add", risk=Risk.DANGER, timeout=20)
async def add(ctx: ActionContext, p: AddKeyParams) -> KeyChange:
    """Authorize one more SSH public key for a user (no-op when already present)."""
    return add_key(p.user, p.key, p.path)


@action("user.keys.remove", risk=Risk.CHANGE, timeout=20)
async def remove(ctx: ActionContext, p: RemoveKeyParams) -> KeyChange:
    """Remove a user's authorized keys matching a fingerprint or a comment."""
    return remove_keys(p.user, p.fingerprint, p.comment, p.path)
