"""The charter's saved data source: the NAME of the environment variable holding the warehouse URL
(never the URL) and the user-level SQL query ``/experiment refresh`` runs on it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("source_env", "source_query")


def upgrade() -> None:
    op.add_column("experiments", sa.Column("source_env", sa.String(128), nullable=True))
    op.add_column("experiments", sa.Column("source_query", sa.Text(), nullable=True))


def downgrade() -> None:
    for column in reversed(COLUMNS):
        if op.get_bind().dialect.name == "sqlite":
            # SQLite ≥ 3.35 drops a column in place; a batch copy of `experiments` would drop the
            # table its analyses and decisions reference (ON DELETE CASCADE) and lose them.
            op.execute(f"ALTER TABLE experiments DROP COLUMN {column}")
        else:
            op.drop_column("experiments", column)
