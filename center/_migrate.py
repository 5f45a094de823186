"""Versioned schema migrations of the center's store (Alembic).

Every schema change comes with a migration in ``center/migrations/versions``
(``starling db revision -m "what"`` writes one from the difference between
the code's tables and a database at the current head). A center brings its
database to the head on start (:func:`migrate`), under a database lock so
that centers starting together on one PostgreSQL or MariaDB migrate once.
A database made before migrations existed (release 70e43c9, by
``create_all``) is recognised and stamped as the baseline first.
``tests/center/test_migrations.py`` fails when the migrations do not produce
exactly the code's tables.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

log = logging.getLogger("starling.center")

#: The revision whose schema databases made by ``create_all`` (release 70e43c9) have.
BASELINE = "0001"
MIGRATIONS = Path(__file__).parent / "migrations"
#: Advisory lock key (PostgreSQL) / lock name (MySQL, MariaDB).
_LOCK_KEY = 0x5354524C  # "STRL"
_LOCK_NAME = "starling_migrate"


def alembic_config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision in the code."""
    rev = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert rev is not None
    return rev


@contextmanager
def _lock(conn: sa.Connection) -> Iterator[None]:
    """Serialise migrations between centers sharing one database."""
    name = conn.dialect.name
    if name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
    elif name in ("mysql", "mariadb"):
        got = conn.execute(sa.text("SELECT GET_LOCK(:n, 120)"), {"n": _LOCK_NAME}).scalar()
        if got != 1:
            raise RuntimeError("could not take the migration lock within 120 s")
        try:
            yield
        finally:
            conn.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": _LOCK_NAME})
    else:  # SQLite: one center per file
        yield


def current(engine: sa.Engine) -> str | None:
    """The revision the database is at (``None``: not under migrations)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: sa.Engine, target: str = "head") -> str | None:
    """Bring the database to ``target``; returns the revision it is at."""
    with engine.connect() as conn:
        with _lock(conn):
            conn.commit()  # the lock is the session's; the migration runs in its own transactions
            tables = set(sa.inspect(conn).get_table_names())
            cfg = alembic_config(conn)
            if "alembic_version" not in tables and "jobs" in tables:
                log.info("database predates migrations: stamping it as revision %s", BASELINE)
                command.stamp(cfg, BASELINE)
                conn.commit()
            command.upgrade(cfg, target)
            conn.commit()
            rev = MigrationContext.configure(conn).get_current_revision()
    return rev


def schema_diff(engine: sa.Engine) -> list[Any]:
    """How the database differs from the code's tables (empty: identical)."""
    from ._store import metadata

    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return [d for d in compare_metadata(ctx, metadata) if not _version_table(d)]


def _version_table(diff: Any) -> bool:
    return isinstance(diff, tuple) and len(diff) > 1 and getattr(diff[1], "name", "") == "alembic_version"


def revision(engine: sa.Engine, message: str) -> str:
    """Write a new migration from the difference between the code and a
    database at the head; returns its path."""
    migrate(engine)
    rev_id = f"{int(head()) + 1:04d}"
    with engine.connect() as conn:
        script = command.revision(alembic_config(conn), message=message, autogenerate=True, rev_id=rev_id)
    assert script is not None and not isinstance(script, list)
    return str(script.path)
