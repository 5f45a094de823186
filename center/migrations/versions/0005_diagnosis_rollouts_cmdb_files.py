"""task_diagnoses, rollouts, cmdb_hosts, file_chunks

Tables that landed with diagnosis, rollout controls, the CMDB import and the
file channel. A table that already exists (a development database where an
earlier build made it with ``create_all``) is left as it is.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "cmdb_hosts" not in have:
        op.create_table(
            "cmdb_hosts",
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("sn", sa.String(191), nullable=False),
            sa.Column("ip", sa.String(64), nullable=False),
            sa.Column("hostname", sa.String(255), nullable=False),
            sa.Column("owner", sa.String(191), nullable=False),
            sa.Column("idc", sa.String(64), nullable=False),
            sa.Column("tags", sa.Text, nullable=False),
            sa.Column("imported", sa.Double, nullable=False),
        )
        op.create_index("ix_cmdb_hosts_hostname", "cmdb_hosts", ["hostname"])
        op.create_index("ix_cmdb_hosts_ip", "cmdb_hosts", ["ip"])
        op.create_index("ix_cmdb_hosts_sn", "cmdb_hosts", ["sn"])
    if "file_chunks" not in have:
        op.create_table(
            "file_chunks",
            sa.Column("hash", sa.String(64), primary_key=True),
            sa.Column("size", sa.Integer, nullable=False),
            sa.Column("center", sa.String(64), nullable=False),
            sa.Column("stored", sa.Double, nullable=False),
        )
    if "rollouts" not in have:
        op.create_table(
            "rollouts",
            sa.Column("job_id", sa.String(40), primary_key=True),
            sa.Column("spec", sa.Text, nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("released", sa.Integer, nullable=False),
            sa.Column("wave", sa.Integer, nullable=False),
            sa.Column("wave_end", sa.Integer, nullable=False),
            sa.Column("total", sa.Integer, nullable=False),
            sa.Column("next_at", sa.Double, nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
        )
    if "task_diagnoses" not in have:
        op.create_table(
            "task_diagnoses",
            sa.Column("task_id", sa.String(64), primary_key=True),
            sa.Column("job_id", sa.String(40), nullable=False),
            sa.Column("doc", sa.Text, nullable=False),
        )
        op.create_index("ix_task_diagnoses_job_id", "task_diagnoses", ["job_id"])


def downgrade() -> None:
    for table in ("task_diagnoses", "rollouts", "file_chunks", "cmdb_hosts"):
        op.drop_table(table)
