"""Host lists from a file or stdin, for the CLI (no server imports)."""

from __future__ import annotations

from collections.abc import Sequence


def read_host_list(lines: Sequence[str]) -> list[str]:
    """Host names from a file or stdin: one or more per line (spaces or commas),
    ``#`` starts a comment, duplicates dropped in order."""
    out: list[str] = []
    seen: set[str] = set()
    for line in lines:
        for word in line.split("#", 1)[0].replace(",", " ").split():
            if word not in seen:
                seen.add(word)
                out.append(word)
    return out
