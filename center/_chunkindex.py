"""The database index of the center's file chunks (the bytes live on disk).

Kept apart from ``_store`` so the file channel owns its table; ``_store``
adds it to the shared schema.
"""

from __future__ import annotations

import sqlalchemy as sa


def chunk_table(metadata: sa.MetaData) -> sa.Table:
    """One row per chunk any center stored: which center wrote it, when, how big."""
    return sa.Table(
        "file_chunks",
        metadata,
        sa.Column("hash", sa.String(64), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("center", sa.String(64), nullable=False, default=""),
        sa.Column("stored", sa.Double, nullable=False, default=0.0),
    )
