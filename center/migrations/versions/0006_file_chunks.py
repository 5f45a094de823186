"""file_chunks: the index of file-channel chunks each center holds

Content-addressed chunks of files uploaded for `starling cp` live on disk in
the center's chunk directory; this table says which center holds which hash
and how big it is, so active-active centers can find each other's chunks.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "file_chunks",
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("center", sa.String(64), nullable=False),
        sa.Column("stored", sa.Double, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("file_chunks")
