"""Logs as one JSON object per line, shared by every role.

Context travels as fields, not as words in the message: ``job_id``,
``task_id``, ``agent_id``, ``proxy_id``, ``code`` (and anything else a call
passes in ``extra=``) become keys of the line, so a log pipeline can follow
one task across agent, proxy and center. :func:`set_log_context` adds fields
to every line of the process (the role's own id, once it is known).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

#: Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}
#: Fields added to every record of this process (see :func:`set_log_context`).
_context: dict[str, Any] = {}


def set_log_context(**fields: Any) -> None:
    """Add ``fields`` to every later log line of this process (``None`` removes one)."""
    for key, value in fields.items():
        if value is None:
            _context.pop(key, None)
        else:
            _context[key] = value


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(getattr(value, "value", value))  # enums (ErrorCode) by value


#: One encoder for every line (``json.dumps`` with an option builds a new one per call).
_encode = json.JSONEncoder(ensure_ascii=False).encode


class JsonFormatter(logging.Formatter):
    #: The ``time`` field of the last second a line was written in: (whole seconds, text).
    _second: tuple[int, str] = (-1, "")

    def _time(self, created: float) -> str:
        whole = int(created)
        if self._second[0] != whole:  # a proxy writes a line per task: thousands a second
            self._second = (whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)))
        return self._second[1]

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": round(record.created, 3),
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _context.items():
            doc.setdefault(key, value)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in doc:
                doc[key] = _jsonable(value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return _encode(doc)


#: A log file a role creates: its owner writes, its group (adm, say) reads, others
#: nothing — logs name hosts, commands and accounts, whatever the umask says.
LOG_MODE = 0o640


def _log_file(path: str) -> logging.Handler:
    """A handler appending to ``path``, created :data:`LOG_MODE` if it is new (an
    existing file keeps the mode its operator gave it)."""
    import os

    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, LOG_MODE))
    return logging.FileHandler(path)


def setup_logging(level: str = "info", file: str = "", role: str = "") -> None:
    # The line has no source file, thread or process fields: do not collect them for
    # every record (the logging HOWTO's "Optimization"; a stack walk and two lookups
    # each, ~3 µs of the ~16 µs a proxy's per-task line costs).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler: logging.Handler = _log_file(file) if file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    if role:
        set_log_context(role=role)
