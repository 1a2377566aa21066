"""The charter's inference method: fixed, always-valid or group-sequential (NULL: decided by the
plan — group-sequential when looks are planned, else always-valid).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("experiments", sa.Column("method", sa.String(32), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite ≥ 3.35 drops a column in place; a batch copy of `experiments` would drop the
        # table its analyses and decisions reference (ON DELETE CASCADE) and lose them.
        op.execute("ALTER TABLE experiments DROP COLUMN method")
    else:
        op.drop_column("experiments", "method")
