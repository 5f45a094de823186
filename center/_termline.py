"""Per-line interception for the web terminal (placeholder: passes input through)."""

from __future__ import annotations

from typing import Any


class LineGuard:
    def __init__(self, policy: Any = None, account: str = "", cols: int = 80, rows: int = 24) -> None:
        self.cols, self.rows = cols, rows

    def feed(self, data: str) -> list[Any]:
        return [data.encode()]

    def screen(self, text: str) -> None:
        pass

    def resize(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
