"""One rule for secrets in environments and configuration values.

A variable whose *name* says it holds a secret is masked whole; in every other
value a password inside a URL (``postgres://user:pw@host``) is masked and the
rest kept. ``proc.environ`` (a process, the agent, a new command) and
``container.docker.inspect`` show environments through :func:`mask_env`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["MASK", "is_secret_name", "mask_env", "redact_value"]

MASK = "***"

_SECRET_NAME = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private|credential|"
    r"auth(?!or)|cookie|session|signature|salt|(^|_)key($|_)|dsn",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]*:)(?P<pw>[^@\s/]+)(?P<tail>@)", re.IGNORECASE
)


def is_secret_name(name: str) -> bool:
    """Whether a variable named ``name`` should never be shown."""
    return bool(_SECRET_NAME.search(name))


def redact_value(value: str) -> str:
    """``value`` with any password inside a URL (``scheme://user:pw@host``) masked."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + m.group("tail"), value)


def mask_env(env: Mapping[str, str], names: Iterable[str] = ()) -> tuple[dict[str, str], list[str]]:
    """Mask the secrets in ``env``.

    :param names: when given, keep only these variables.
    :returns: the masked copy (sorted by name) and the sorted names that were masked.
    """
    wanted = set(names)
    out: dict[str, str] = {}
    masked: list[str] = []
    for name in sorted(env):
        if wanted and name not in wanted:
            continue
        value = env[name]
        if is_secret_name(name) and value:
            out[name] = MASK
            masked.append(name)
            continue
        clean = redact_value(value)
        if clean != value:
            masked.append(name)
        out[name] = clean
    return out, masked
