"""Keyset cursors for paged listings (``GET /v1/hosts``, ``GET /v1/jobs``).

A cursor is the sort key of the last row a page scanned, as URL-safe base64 of a
JSON array. It is opaque to callers: they pass back the ``next`` of one page to get
the following one. Keyset paging stays fast however deep the page (no OFFSET), and a
row added or removed meanwhile neither repeats nor skips the others.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from transports import ErrorCode, StarlingError

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(raw: str | None, *types: type) -> tuple[Any, ...] | None:
    """The key in ``raw`` (None when absent); C001 unless it has exactly these types."""
    if not raw:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, list) or len(key) != len(types):
        raise StarlingError("the cursor is not one this listing gave out (pass its `next` unchanged)", code=ErrorCode.C001)
    out = []
    for value, want in zip(key, types, strict=True):
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or isinstance(value, bool):
            raise StarlingError("the cursor is not one this listing gave out (pass its `next` unchanged)", code=ErrorCode.C001)
        out.append(value)
    return tuple(out)
