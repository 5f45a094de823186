"""Recognise and mask secrets in environment variables and configuration values.

Shared by the plugins that show an environment (``exec.env``,
``docker.inspect``): a variable whose *name* says it holds a secret is masked
whole; a URL with a password in it keeps everything but the password.
"""

from __future__ import annotations

import re

MASK = "***"

_SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private|credential|"
    r"auth(?!or)|cookie|session|signature|salt|(^|_)key($|_)|dsn)",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]*:)(?P<pw>[^@\s/]+)(?P<tail>@)", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether a variable named ``name`` should never be shown."""
    return bool(_SECRET_NAME.search(name))


def redact_value(value: str) -> str:
    """``value`` with any password inside a URL (``scheme://user:pw@host``) masked."""
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + m.group("tail"), value)


def redact_env(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Mask secrets in ``env``; returns the masked copy and the names that were masked."""
    out: dict[str, str] = {}
    masked: list[str] = []
    for name, value in env.items():
        if is_secret_name(name):
            out[name] = MASK
            masked.append(name)
            continue
        clean = redact_value(value)
        if clean != value:
            masked.append(name)
        out[name] = clean
    return out, sorted(masked)
