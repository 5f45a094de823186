"""A fresh database per test module on each store backend: SQLite file,
PostgreSQL and MariaDB (the real servers on loopback)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

PG = os.environ.get("STARLING_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MY = os.environ.get("STARLING_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path, private_database) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'center.db'}"
    else:
        with private_database(PG if request.param == "postgresql" else MY, "starling") as url:
            yield url
