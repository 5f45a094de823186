"""MySQL/MariaDB: MEDIUMTEXT/MEDIUMBLOB for columns that outgrow 64 KiB

A task's output (up to 1 MiB), its message and data, a job's params and an
action catalogue (~170 KB) do not fit MySQL's TEXT/BLOB (64 KiB): storing
them failed with "Data too long". Other databases are unchanged (their TEXT
and BLOB have no such limit).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeEngine

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: (table, column, old type, new type, nullable)
CHANGES: list[tuple[str, str, TypeEngine[Any], TypeEngine[Any], bool]] = [
    ("jobs", "params", sa.Text(), mysql.MEDIUMTEXT(), False),
    ("jobs", "params_raw", sa.LargeBinary(), mysql.MEDIUMBLOB(), False),
    ("tasks", "message", sa.Text(), mysql.MEDIUMTEXT(), False),
    ("tasks", "stdout", sa.Text(), mysql.MEDIUMTEXT(), False),
    ("tasks", "stderr", sa.Text(), mysql.MEDIUMTEXT(), False),
    ("tasks", "data", sa.Text(), mysql.MEDIUMTEXT(), True),
    ("catalogues", "doc", sa.LargeBinary(), mysql.MEDIUMBLOB(), False),
]


def upgrade() -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    for table, column, old, new, nullable in CHANGES:
        op.alter_column(table, column, existing_type=old, type_=new, existing_nullable=nullable)


def downgrade() -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    for table, column, old, new, nullable in CHANGES:
        op.alter_column(table, column, existing_type=new, type_=old, existing_nullable=nullable)
