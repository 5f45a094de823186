"""Checksum files (sha256, sha1, md5, sha512, blake2b) and verify an expected digest.

``file.checksum`` hashes one or more files in a worker thread, streaming them
in blocks so size does not matter, and returns each digest with the file's
size. Given ``expected`` (for a single path) it fails with A015 when the digest
differs, which makes "is this build identical on every host?" one job. A path
that cannot be read is reported with its error code beside the others. It
only reads.
"""

from __future__ import annotations

import os
from typing import Annotated, Literal

import msgspec

from agent_core import (
    ActionContext,
    ActionError,
    CancelToken,
    ErrorCode,
    InvalidParams,
    Plugin,
    Risk,
    abs_path,
    action,
)
from plugins._fs import hash_file, os_error

PLUGIN = Plugin("file.checksum", domain="files")


class ChecksumParams(msgspec.Struct, forbid_unknown_fields=True):
    paths: Annotated[list[str], msgspec.Meta(min_length=1, max_length=1000)]
    algorithm: Literal["sha256", "sha1", "md5", "sha512", "blake2b"] = "sha256"
    expected: str | None = None


class Digest(msgspec.Struct, omit_defaults=True):
    path: str
    digest: str = ""
    size: int = 0
    error: str = ""
    code: str = ""


class ChecksumResult(msgspec.Struct):
    algorithm: str
    files: list[Digest]
    match: bool | None = None


def _hash_all(paths: list[str], algorithm: str, cancel: CancelToken) -> list[Digest]:
    out: list[Digest] = []
    for path in paths:
        try:
            if os.path.isdir(path):
                raise IsADirectoryError(21, "Is a directory", path)
            size = os.stat(path).st_size
            out.append(Digest(path=path, digest=hash_file(path, algorithm, cancel), size=size))
        except OSError as exc:
            err = os_error(exc, path)
            out.append(Digest(path=path, error=err.message, code=err.code.value))
    return out


@action("file.checksum", risk=Risk.READ, timeout=300)
async def checksum(ctx: ActionContext, p: ChecksumParams) -> ChecksumResult:
    """Digest of each path; with ``expected``, fail with A015 on a mismatch."""
    paths = [abs_path(x, "paths") for x in p.paths]
    if p.expected is not None and len(paths) != 1:
        raise InvalidParams("expected: only allowed with exactly one path")
    files = await ctx.to_thread(_hash_all, paths, p.algorithm, cancellable=True)
    result = ChecksumResult(algorithm=p.algorithm, files=files)
    if len(files) == 1 and files[0].error:
        raise ActionError(files[0].error, code=ErrorCode[files[0].code])
    if p.expected is not None:
        result.match = files[0].digest == p.expected.strip().lower()
        if not result.match:
            raise ActionError(
                f"{paths[0]}: {p.algorithm} is {files[0].digest}, expected {p.expected}",
                code=ErrorCode.A015,
                data=result,
            )
    return result
