"""Tables of the diagnosis, rollout and CMDB features, in the store's schema.

They live apart from ``center/_store.py`` so that those features stay in their
own modules; ``_store`` imports this module so ``create_all`` makes them too.
"""

from __future__ import annotations

import sqlalchemy as sa

from ._store import metadata

#: One row per job submitted with rollout controls: its spec and how far it got.
rollouts = sa.Table(
    "rollouts",
    metadata,
    sa.Column("job_id", sa.String(40), primary_key=True),
    #: The :class:`center._rollout.Rollout` as JSON.
    sa.Column("spec", sa.Text, nullable=False),
    #: ``running`` | ``paused`` (between waves) | ``stopped`` (threshold) | ``done``.
    sa.Column("state", sa.String(16), nullable=False, default="running"),
    #: Tasks with an index below this are released (may be dispatched).
    sa.Column("released", sa.Integer, nullable=False, default=0),
    #: Current wave (0 = the canary) and where it ends (task index, exclusive).
    sa.Column("wave", sa.Integer, nullable=False, default=0),
    sa.Column("wave_end", sa.Integer, nullable=False, default=0),
    sa.Column("total", sa.Integer, nullable=False, default=0),
    #: When a paused rollout may release its next wave.
    sa.Column("next_at", sa.Double, nullable=False, default=0.0),
    sa.Column("reason", sa.Text, nullable=False, default=""),
)

#: The diagnosis attached to a task that failed (or was skipped), as recorded then.
task_diagnoses = sa.Table(
    "task_diagnoses",
    metadata,
    sa.Column("task_id", sa.String(64), primary_key=True),
    sa.Column("job_id", sa.String(40), nullable=False, index=True),
    sa.Column("doc", sa.Text, nullable=False),
)

#: The CMDB's view of the fleet, as last imported or fetched.
cmdb_hosts = sa.Table(
    "cmdb_hosts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("sn", sa.String(191), nullable=False, default="", index=True),
    sa.Column("ip", sa.String(64), nullable=False, default="", index=True),
    sa.Column("hostname", sa.String(255), nullable=False, default="", index=True),
    sa.Column("owner", sa.String(191), nullable=False, default=""),
    sa.Column("idc", sa.String(64), nullable=False, default=""),
    sa.Column("tags", sa.Text, nullable=False, default="[]"),
    sa.Column("imported", sa.Double, nullable=False, default=0.0),
)
