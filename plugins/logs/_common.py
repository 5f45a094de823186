"""Shared pieces of the log plugins: rotated siblings and compressed readers.

Not a plugin. A log ``/var/log/app.log`` is usually followed by its rotated
generations ``app.log.1``, ``app.log.2.gz``, ``app.log-20240101`` ...; these
helpers find them and open any of them as text.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
from typing import IO

_COMPRESSED = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}

#: What a rotation adds after the live name: ``.1``, ``.2.gz``, ``-20240101``, ``.old`` ...
ROTATED_SUFFIX = re.compile(r"^(\.\d+|-\d{8}(\d{2})?|\.old|\.bak)(\.(gz|bz2|xz|zst))?$")


def family(name: str) -> str:
    """The live log name a (possibly rotated) file name belongs to."""
    for i in range(len(name)):
        if name[i] in ".-" and ROTATED_SUFFIX.match(name[i:]):
            return name[:i]
    return name


def rotated_siblings(path: str) -> list[str]:
    """Rotated generations of ``path``, oldest first (highest number / earliest date)."""
    directory, base = os.path.split(path)
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = []
    for name in names:
        if name != base and name.startswith(base) and ROTATED_SUFFIX.match(name[len(base) :]):
            found.append(name)

    def age_key(name: str) -> tuple[int, str]:
        rest = name[len(base) :]
        m = re.match(r"^\.(\d+)", rest)
        # Numbered generations: a higher number is older. Dated ones sort by date.
        return (0, f"{10**9 - int(m.group(1)):010d}") if m else (1, rest)

    return [os.path.join(directory, n) for n in sorted(found, key=age_key)]


def open_text(path: str) -> IO[str]:
    """Open a log (plain or .gz/.bz2/.xz) for reading as UTF-8 text, errors replaced."""
    for ext, opener in _COMPRESSED.items():
        if path.endswith(ext):
            return io.TextIOWrapper(opener(path, "rb"), encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")
