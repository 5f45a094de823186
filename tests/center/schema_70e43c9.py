"""The store's schema as release 70e43c9 made it (``metadata.create_all``,
before migrations existed): the table definitions of that commit's
``center/_store.py`` and ``center/security/_audit.py``, frozen here so the
migration test can build a database of the previous release."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()


def audit_table(metadata: sa.MetaData, name: str = "audit_log") -> sa.Table:
    """The audit log's table, added to ``metadata``."""
    return sa.Table(
        name,
        metadata,
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("time_us", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Index(f"ix_{name}_kind_time", "kind", "time_us"),
        sa.Index(f"ix_{name}_actor_time", "actor", "time_us"),
    )


agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("sn", sa.String(191), nullable=False, unique=True),
    sa.Column("hostname", sa.String(255), nullable=False, default=""),
    sa.Column("ip", sa.String(64), nullable=False, default=""),
    sa.Column("os", sa.String(191), nullable=False, default=""),
    sa.Column("idc", sa.String(64), nullable=False, default="default", index=True),
    sa.Column("tags", sa.Text, nullable=False, default="[]"),
    sa.Column("version", sa.String(32), nullable=False, default=""),
    sa.Column("proxy_id", sa.String(64)),
    sa.Column("carrier", sa.String(16), nullable=False, default=""),
    sa.Column("online", sa.Boolean, nullable=False, default=False, index=True),
    sa.Column("code", sa.String(8), nullable=False, default=""),
    sa.Column("last_seen", sa.Double, nullable=False, default=0.0),
    sa.Column("health", sa.Text, nullable=False, default="{}"),
    sa.Column("registered", sa.Double, nullable=False, default=0.0),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    #: The agent's Ed25519 public key (base64), sent at enrollment.
    sa.Column("public_key", sa.String(64), nullable=False, default=""),
)


proxies = sa.Table(
    "proxies",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("idc", sa.String(64), nullable=False, default="default"),
    sa.Column("urls", sa.Text, nullable=False, default="[]"),
    sa.Column("connections", sa.Integer, nullable=False, default=0),
    sa.Column("capacity", sa.Integer, nullable=False, default=0),
    sa.Column("load1", sa.Double, nullable=False, default=0.0),
    sa.Column("cpus", sa.Integer, nullable=False, default=1),
    sa.Column("rss", sa.BigInteger, nullable=False, default=0),
    sa.Column("online", sa.Boolean, nullable=False, default=False),
    sa.Column("last_seen", sa.Double, nullable=False, default=0.0),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)


jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("account", sa.String(64), nullable=False, default=""),
    sa.Column("action", sa.String(128), nullable=False),
    sa.Column("params", sa.Text, nullable=False, default="{}"),
    sa.Column("params_raw", sa.LargeBinary, nullable=False),
    sa.Column("targets", sa.Text, nullable=False, default="{}"),
    sa.Column("created", sa.Double, nullable=False),
    sa.Column("timeout", sa.Double, nullable=False),
    sa.Column("deadline", sa.Double, nullable=False),
    sa.Column("total", sa.Integer, nullable=False, default=0),
    sa.Column("state", sa.String(20), nullable=False, default="running"),
    sa.Column("offline", sa.String(8), nullable=False, default="fail"),
    sa.Column("stream", sa.Boolean, nullable=False, default=False),
    sa.Column("finished", sa.Double),
)


tasks = sa.Table(
    "tasks",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("job_id", sa.String(40), nullable=False, index=True),
    sa.Column("agent_id", sa.String(40), nullable=False),
    sa.Column("state", sa.String(16), nullable=False, default="created"),
    sa.Column("code", sa.String(8), nullable=False, default=""),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("exit_code", sa.Integer),
    sa.Column("stdout", sa.Text, nullable=False, default=""),
    sa.Column("stderr", sa.Text, nullable=False, default=""),
    sa.Column("data", sa.Text),
    sa.Column("truncated", sa.Boolean, nullable=False, default=False),
    sa.Column("proxy_id", sa.String(64)),
    sa.Column("deadline", sa.Double, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("created", sa.Double, nullable=False),
    sa.Column("dispatched", sa.Double),
    sa.Column("delivered", sa.Double),
    sa.Column("received", sa.Double),
    sa.Column("running", sa.Double),
    sa.Column("finished", sa.Double),
    sa.Index("tasks_agent_state", "agent_id", "state"),
    sa.Index("tasks_state_deadline", "state", "deadline"),
)


accounts = sa.Table(
    "accounts",
    metadata,
    sa.Column("key_id", sa.String(64), primary_key=True),
    sa.Column("secret", sa.String(128), nullable=False),
    sa.Column("name", sa.String(128), nullable=False, default=""),
    sa.Column("scopes", sa.Text, nullable=False, default="{}"),
    sa.Column("approver", sa.Boolean, nullable=False, default=False),
    sa.Column("admin", sa.Boolean, nullable=False, default=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created", sa.Double, nullable=False, default=0.0),
    #: Command mapping: {"alias": "real command"}; empty = raw commands allowed.
    sa.Column("mapping", sa.Text, nullable=False, default="{}"),
)


nonces = sa.Table(
    "api_nonces",
    metadata,
    sa.Column("nonce", sa.String(96), primary_key=True),
    sa.Column("expires", sa.Double, nullable=False, index=True),
)


audit_log = audit_table(metadata)
