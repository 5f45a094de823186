"""The one config loader of every role: a TOML file, overridden by the environment.

Each role reads one table of its file into a msgspec Struct: ``[agent]``, ``[center]``
(plus its side tables such as ``[console]``), ``[proxy]``. Precedence: the Struct's
defaults < the file's table < environment variables. The environment convention is
the same for every role: ``STARLING_<TABLE>_<FIELD>`` in upper case
(``STARLING_AGENT_IDC=bj1``, ``STARLING_CENTER_DB=postgresql+psycopg://...``,
``STARLING_PROXY_WORKERS=4``). A list field takes comma-separated values; a table
field (a dict or a nested Struct) takes a JSON object.

Every failure is a :class:`ConfigError` (code C030) that names the file or the variable.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from ._codes import ErrorCode
from ._errors import StarlingError

T = TypeVar("T", bound=msgspec.Struct)


class ConfigError(StarlingError):
    """A config file or variable is unusable; the message names which."""

    code = ErrorCode.C030


def env_name(table: str, field: str) -> str:
    """The environment variable that sets ``field`` of ``[table]``."""
    return f"STARLING_{table.upper()}_{field.upper()}"


def _from_env(kind: Any, name: str, value: str) -> Any:
    origin = getattr(kind, "__origin__", None)
    if origin is list or kind is list:
        return [v.strip() for v in value.split(",") if v.strip()]
    if origin is dict or kind is dict or (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise ConfigError(f"{name} must be a JSON object: {exc}") from exc
    return value


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The whole file, or :class:`ConfigError` naming it."""
    try:
        return tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


def load_section(
    cls: type[T],
    path: str | os.PathLike[str] | None,
    table: str,
    *,
    env: Mapping[str, str] | None = None,
    side_tables: Iterable[str] = (),
) -> T:
    """``[table]`` of the file at ``path`` (none: defaults) with the environment on top.

    ``side_tables`` are other top-level tables of the file that belong to this role's
    config (center.toml's ``[console]`` becomes the ``console`` field).
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path:
        raw = read_toml(path)
        loose = [k for k, v in raw.items() if not isinstance(v, dict)]
        if loose:
            raise ConfigError(f"{path}: {', '.join(loose)} must be inside the [{table}] table")
        section = raw.get(table, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: [{table}] must be a table")
        data = dict(section)
        for name in side_tables:
            if name in raw:
                data[name] = raw[name]
    for f in msgspec.structs.fields(cls):
        name = env_name(table, f.name)
        if name in env:
            data[f.name] = _from_env(f.type, name, env[name])
    try:
        return msgspec.convert(data, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path or 'environment'} [{table}]: {exc}") from exc
