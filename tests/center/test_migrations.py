"""Schema migrations (Alembic) on SQLite, PostgreSQL and MariaDB: from an empty
database, from the previous release's schema (70e43c9, made by create_all),
and the check that keeps the migrations equal to the code's tables."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from center._migrate import BASELINE, current, head, migrate, schema_diff
from center._store import Store
from center._store import metadata as code_metadata


def _previous_release_metadata() -> sa.MetaData:
    spec = importlib.util.spec_from_file_location("schema_70e43c9", Path(__file__).with_name("schema_70e43c9.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.metadata


def test_migrations_from_an_empty_database_give_exactly_the_code_tables(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        assert current(engine) is None
        assert migrate(engine) == head()
        # If this fails, a table or column changed without a migration:
        # run `starling db revision --db URL -m "what changed"` and review the file.
        assert schema_diff(engine) == []
        assert set(sa.inspect(engine).get_table_names()) == set(code_metadata.tables) | {"alembic_version"}
        assert migrate(engine) == head()  # idempotent
    finally:
        engine.dispose()


def test_a_database_of_the_previous_release_is_stamped_and_upgraded_keeping_its_data(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        old = _previous_release_metadata()
        old.create_all(engine)
        with engine.begin() as conn:
            conn.execute(old.tables["jobs"].insert().values(
                id="j-old", account="a", action="exec.run", params="{}", params_raw=b"\x80", targets="{}",
                created=1.0, timeout=60.0, deadline=90.0, total=1, state="done", offline="fail", stream=False,
            ))
            conn.execute(old.tables["agents"].insert().values(
                id="a-old", sn="sn-old", hostname="old", ip="", os="", idc="east", tags="[]", version="", carrier="",
                online=False, code="", last_seen=0.0, health="{}", registered=1.0, revoked=False, public_key="",
            ))
            conn.execute(old.tables["accounts"].insert().values(
                key_id="k-old", secret="x", name="old", scopes="{}", approver=False, admin=False, disabled=False,
                created=1.0, mapping="{}",
            ))
        assert current(engine) is None
        assert migrate(engine) == head()
        assert schema_diff(engine) == []
        store = Store(db_url)
        try:
            job = store.job("j-old")
            assert job is not None and job.action == "exec.run" and job.state == "done"
            with engine.connect() as conn:
                # Columns added since keep the existing rows, with empty values.
                assert conn.execute(sa.text("SELECT hostname, catalogue FROM agents")).one() == ("old", "")
                assert conn.execute(sa.text("SELECT name, created_by, rotated FROM accounts")).one() == ("old", "", None)
        finally:
            store.engine.dispose()
    finally:
        engine.dispose()


def test_the_baseline_is_the_previous_release_schema(db_url: str) -> None:
    """Migrating only to the baseline gives what create_all of 70e43c9 gave,
    so stamping an old database as the baseline is truthful."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = sa.create_engine(db_url)
    try:
        assert migrate(engine, BASELINE) == BASELINE
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), _previous_release_metadata())
        assert [d for d in diff if "alembic_version" not in str(d)] == []
    finally:
        engine.dispose()


def test_centers_starting_together_migrate_once(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("one center per SQLite file: there is no concurrent migration to serialise")
    engines = [sa.create_engine(db_url) for _ in range(3)]
    results: list[object] = []

    def run(engine: sa.Engine) -> None:
        try:
            results.append(migrate(engine))
        except Exception as exc:  # reported below
            results.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert results == [head()] * 3
        assert schema_diff(engines[0]) == []
    finally:
        for e in engines:
            e.dispose()
