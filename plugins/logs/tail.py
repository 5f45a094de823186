"""Tail a log file and optionally follow it, surviving rotation (like ``tail -F``).

``log.tail`` returns the last lines of a log and, with ``follow_seconds``,
keeps reading what is appended for that long, streaming each new line to the
caller as it arrives. When the file is rotated (replaced by a new file) or
truncated it reopens it from the start, as ``tail -F`` does, and says so.
Given the ``offset`` a previous call returned it reads only what is new since
then, which makes cheap incremental polling. It only reads.
"""

from __future__ import annotations

import os
import time
from typing import Annotated

import msgspec

from agent_core import ActionContext, InvalidParams, Plugin, Risk, abs_path, action
from plugins._fs import fs_errors, read_last_lines

PLUGIN = Plugin("log.tail", domain="logs")

POLL = 0.2


class TailParams(msgspec.Struct, forbid_unknown_fields=True):
    path: str
    lines: Annotated[int, msgspec.Meta(ge=0, le=100_000)] = 50
    offset: Annotated[int, msgspec.Meta(ge=0)] | None = None
    follow_seconds: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 0
    max_lines: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 10_000


class LogTail(msgspec.Struct):
    path: str
    lines: list[str]
    offset: int
    rotations: int
    truncated: bool


class _Follower:
    """Reads whatever was appended since the last call, reopening on rotation."""

    def __init__(self, path: str, offset: int) -> None:
        self.path = path
        self.fh = open(path, "rb")
        self.ino = os.fstat(self.fh.fileno()).st_ino
        self.fh.seek(offset)
        self.partial = b""
        self.rotations = 0

    def close(self) -> None:
        self.fh.close()

    def _rotated(self) -> bool:
        try:
            s = os.stat(self.path)
        except FileNotFoundError:
            return False  # between the rename and the new file: keep the old one for now
        if s.st_ino != self.ino or s.st_size < self.fh.tell():
            return True
        return False

    def read_new(self) -> list[str]:
        out = self._drain()
        if self._rotated():
            # Finish the old file first (lines written just before the rename), then switch.
            out += self._drain(final=True)
            self.fh.close()
            self.fh = open(self.path, "rb")
            self.ino = os.fstat(self.fh.fileno()).st_ino
            self.rotations += 1
            out += self._drain()
        return out

    def _drain(self, final: bool = False) -> list[str]:
        data = self.partial + self.fh.read()
        lines = data.split(b"\n")
        self.partial = b"" if final else lines.pop()
        if final and lines and lines[-1] == b"":
            lines.pop()
        return [x.decode("utf-8", "replace").rstrip("\r") for x in lines]

    @property
    def offset(self) -> int:
        return self.fh.tell() - len(self.partial)


def _start(path: str, p: TailParams) -> tuple[list[str], int, bool]:
    with fs_errors(path):
        if os.path.isdir(path):
            raise InvalidParams(f"{path} is a directory")
        size = os.stat(path).st_size
        if p.offset is not None:
            # A smaller file than the offset we were given means it was rotated or truncated.
            return [], p.offset if p.offset <= size else 0, False
        lines, end, truncated = read_last_lines(path, p.lines, 4 * 1024 * 1024)
        return lines, end, truncated


@action("log.tail", risk=Risk.READ, timeout=3700, streams=True)
async def tail(ctx: ActionContext, p: TailParams) -> LogTail:
    """Last ``lines`` of a log, or what is new since ``offset``; follow for ``follow_seconds``."""
    path = abs_path(p.path)
    lines, offset, truncated = _start(path, p)
    for line in lines:
        await ctx.emit(line + "\n")
    with fs_errors(path):
        follower = _Follower(path, offset)
    try:
        new = follower.read_new()
        deadline = time.monotonic() + p.follow_seconds
        while True:
            for line in new:
                await ctx.emit(line + "\n")
            lines += new
            if len(lines) > p.max_lines:
                lines = lines[-p.max_lines :]
                truncated = True
            if time.monotonic() >= deadline:
                break
            await ctx.sleep(POLL)
            new = follower.read_new()
        return LogTail(path=path, lines=lines, offset=follower.offset, rotations=follower.rotations, truncated=truncated)
    finally:
        follower.close()
