"""baseline: the schema of the first release (commit 70e43c9)

Databases made before migrations existed (by ``metadata.create_all``) have
exactly this schema; ``center._migrate`` stamps them with this revision
instead of running it.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agents",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("sn", sa.String(191), nullable=False, unique=True),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("os", sa.String(191), nullable=False),
        sa.Column("idc", sa.String(64), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("proxy_id", sa.String(64)),
        sa.Column("carrier", sa.String(16), nullable=False),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("last_seen", sa.Double, nullable=False),
        sa.Column("health", sa.Text, nullable=False),
        sa.Column("registered", sa.Double, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
    )
    op.create_index("ix_agents_idc", "agents", ["idc"])
    op.create_index("ix_agents_online", "agents", ["online"])
    op.create_table(
        "proxies",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("idc", sa.String(64), nullable=False),
        sa.Column("urls", sa.Text, nullable=False),
        sa.Column("connections", sa.Integer, nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("load1", sa.Double, nullable=False),
        sa.Column("cpus", sa.Integer, nullable=False),
        sa.Column("rss", sa.BigInteger, nullable=False),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("last_seen", sa.Double, nullable=False),
        sa.Column("revoked", sa.Boolean, nullable=False),
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("account", sa.String(64), nullable=False),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("params", sa.Text, nullable=False),
        sa.Column("params_raw", sa.LargeBinary, nullable=False),
        sa.Column("targets", sa.Text, nullable=False),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("timeout", sa.Double, nullable=False),
        sa.Column("deadline", sa.Double, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("offline", sa.String(8), nullable=False),
        sa.Column("stream", sa.Boolean, nullable=False),
        sa.Column("finished", sa.Double),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("agent_id", sa.String(40), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("stdout", sa.Text, nullable=False),
        sa.Column("stderr", sa.Text, nullable=False),
        sa.Column("data", sa.Text),
        sa.Column("truncated", sa.Boolean, nullable=False),
        sa.Column("proxy_id", sa.String(64)),
        sa.Column("deadline", sa.Double, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("dispatched", sa.Double),
        sa.Column("delivered", sa.Double),
        sa.Column("received", sa.Double),
        sa.Column("running", sa.Double),
        sa.Column("finished", sa.Double),
    )
    op.create_index("ix_tasks_job_id", "tasks", ["job_id"])
    op.create_index("tasks_agent_state", "tasks", ["agent_id", "state"])
    op.create_index("tasks_state_deadline", "tasks", ["state", "deadline"])
    op.create_table(
        "accounts",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("approver", sa.Boolean, nullable=False),
        sa.Column("admin", sa.Boolean, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("mapping", sa.Text, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=False),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_kind_time", "audit_log", ["kind", "time_us"])
    op.create_index("ix_audit_log_actor_time", "audit_log", ["actor", "time_us"])
    op.create_table(
        "api_nonces",
        sa.Column("nonce", sa.String(96), primary_key=True),
        sa.Column("expires", sa.Double, nullable=False),
    )
    op.create_index("ix_api_nonces_expires", "api_nonces", ["expires"])


def downgrade() -> None:
    for table in ("api_nonces", "audit_log", "accounts", "tasks", "jobs", "proxies", "agents"):
        op.drop_table(table)
