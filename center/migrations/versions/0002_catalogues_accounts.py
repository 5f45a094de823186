"""catalogues, agents.catalogue, accounts.created_by/rotated, longer accounts.secret

What landed on main after release 70e43c9: agents declare their action
catalogue (content-addressed ``catalogues`` table, a digest per agent), and
accounts keep sealed secrets (longer), who created them and when they were
rotated. New NOT NULL columns are added with a server default so existing
rows get a value, which is then dropped to match the code's tables.
(Plain-text secrets of 70e43c9 accounts are not converted: the center never
accepts them; the bootstrap admin is re-created from the center's config.)

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogues",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("doc", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Double, nullable=False),
    )
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("created_by", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("rotated", sa.Double, nullable=True))
        batch.alter_column("secret", existing_type=sa.String(128), type_=sa.String(255), existing_nullable=False)
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("catalogue", sa.String(64), nullable=False, server_default=""))
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("created_by", existing_type=sa.String(64), existing_nullable=False, server_default=None)
    with op.batch_alter_table("agents") as batch:
        batch.alter_column("catalogue", existing_type=sa.String(64), existing_nullable=False, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("catalogue")
    with op.batch_alter_table("accounts") as batch:
        batch.alter_column("secret", existing_type=sa.String(255), type_=sa.String(128), existing_nullable=False)
        batch.drop_column("rotated")
        batch.drop_column("created_by")
    op.drop_table("catalogues")
