"""tasks by (job_id, state)

After every batch of results the center asks whether a job has tasks left, and
every progress view counts a job's tasks by state. With an index on job_id
alone both read every task row of the job (30,000 for a fleet-wide job, after
each batch); on (job_id, state) the first is one probe and the second reads
the index only. It replaces the index on job_id alone (its prefix).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("tasks_job_state", "tasks", ["job_id", "state"])
    op.drop_index("ix_tasks_job_id", table_name="tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_job_id", "tasks", ["job_id"])
    op.drop_index("tasks_job_state", table_name="tasks")
