"""Shared pieces of the ``rpm.*`` plugins: the ``rpm`` command line and query formats.

Not a plugin (no entry point).
"""

from __future__ import annotations

from agent_core import ActionContext, ProcessResult

END = "@@starling-end@@"


def none(value: str) -> str:
    """rpm prints a missing tag as ``(none)``."""
    return "" if value == "(none)" else value


def evr(epoch: str, version: str, release: str) -> str:
    epoch = none(epoch)
    return f"{epoch + ':' if epoch and epoch != '0' else ''}{version}-{release}"


async def rpm(ctx: ActionContext, args: list[str], root: str | None) -> ProcessResult:
    return await ctx.run(["rpm", *(["--root", root] if root else []), *args], c_locale=True)
