"""diagnosis, rollout and CMDB tables

New tables only (``center/_records.py``): ``rollouts`` (a job's rollout spec
and how far it got), ``task_diagnoses`` (the diagnosis recorded when a task
failed) and ``cmdb_hosts`` (the imported CMDB).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 04:40:05.334631
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cmdb_hosts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('sn', sa.String(length=191), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('owner', sa.String(length=191), nullable=False),
    sa.Column('idc', sa.String(length=64), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.Column('imported', sa.Double(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cmdb_hosts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cmdb_hosts_hostname'), ['hostname'], unique=False)
        batch_op.create_index(batch_op.f('ix_cmdb_hosts_ip'), ['ip'], unique=False)
        batch_op.create_index(batch_op.f('ix_cmdb_hosts_sn'), ['sn'], unique=False)

    op.create_table('rollouts',
    sa.Column('job_id', sa.String(length=40), nullable=False),
    sa.Column('spec', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('released', sa.Integer(), nullable=False),
    sa.Column('wave', sa.Integer(), nullable=False),
    sa.Column('wave_end', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('next_at', sa.Double(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('job_id')
    )
    op.create_table('task_diagnoses',
    sa.Column('task_id', sa.String(length=64), nullable=False),
    sa.Column('job_id', sa.String(length=40), nullable=False),
    sa.Column('doc', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('task_id')
    )
    with op.batch_alter_table('task_diagnoses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_diagnoses_job_id'), ['job_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('task_diagnoses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_diagnoses_job_id'))

    op.drop_table('task_diagnoses')
    op.drop_table('rollouts')
    with op.batch_alter_table('cmdb_hosts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cmdb_hosts_sn'))
        batch_op.drop_index(batch_op.f('ix_cmdb_hosts_ip'))
        batch_op.drop_index(batch_op.f('ix_cmdb_hosts_hostname'))

    op.drop_table('cmdb_hosts')
