"""listing indexes: hosts by (hostname, id), jobs by (created, id)

`starling hosts` and `starling jobs` page through these orders with keyset
cursors (GET /v1/hosts?cursor=, GET /v1/jobs?cursor=); without the indexes a
page of 50,000 hosts sorts the whole table.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("agents_hostname_id", "agents", ["hostname", "id"])
    op.create_index("jobs_created_id", "jobs", ["created", "id"])


def downgrade() -> None:
    op.drop_index("jobs_created_id", table_name="jobs")
    op.drop_index("agents_hostname_id", table_name="agents")
