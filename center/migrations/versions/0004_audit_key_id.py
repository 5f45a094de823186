"""audit_log.key_id: which audit key signed each record

The audit chain is keyed (HMAC under a key the database does not hold, see
``center/security/_audit.py``); each record names its key so records stay
verifiable after the key is rotated. Records written before have ``""``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("audit_log")}
    if "key_id" not in columns:  # a center of the audit branch may have added it already
        with op.batch_alter_table("audit_log") as batch:
            batch.add_column(sa.Column("key_id", sa.String(32), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("key_id")
