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
            self._real = make_console(stderr=self._stderr)
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


#: Width when the output is not a terminal: wide enough that no line is cut or wrapped.
PIPE_WIDTH = 100_000


def is_terminal(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (False for a pipe, a file, a closed or replaced stream)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def make_console(stderr: bool = False) -> Console:
    """A console sized to the terminal; piped or redirected, lines are never wrapped or
    cut (a table is as wide as its content), unless COLUMNS asks for a width."""
    import os
    import sys

    from rich.console import Console

    if is_terminal(sys.stderr if stderr else sys.stdout) or os.environ.get("COLUMNS"):
        return Console(stderr=stderr)
    return Console(stderr=stderr, width=PIPE_WIDTH, soft_wrap=True)


def lazy_console(stderr: bool = False) -> Console:
    """A stand-in typed as ``Console`` that makes the real one when first used."""
    return cast("Console", _LazyConsole(stderr=stderr))


def real_console(c: Console) -> Console:
    """The rich ``Console`` behind a lazy one (for APIs that check its type)."""
    return c.get() if isinstance(c, _LazyConsole) else c  # type: ignore[attr-defined]
