"""Rich consoles made on first use, for CLI modules: importing rich costs ~50 ms that
``starling --help`` (and any subcommand that prints nothing rich) should not pay.

    from ._lazyconsole import lazy_console, real_console
    console = lazy_console()                  # module level: imports nothing yet
    err_console = lazy_console(stderr=True)
    Progress(..., console=real_console(err_console))   # APIs that need the real object
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from rich.console import Console


class _LazyConsole:
    """A rich ``Console`` made on first attribute access."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._real: Console | None = None

    def get(self) -> Console:
        if self._real is None:
            from rich.console import Console

            self._real = Console(stderr=self._stderr)
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


def lazy_console(stderr: bool = False) -> Console:
    """A stand-in typed as ``Console`` that makes the real one when first used."""
    return cast("Console", _LazyConsole(stderr=stderr))


def real_console(c: Console) -> Console:
    """The rich ``Console`` behind a lazy one (for APIs that check its type)."""
    return c.get() if isinstance(c, _LazyConsole) else c  # type: ignore[attr-defined]
