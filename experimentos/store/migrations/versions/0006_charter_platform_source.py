"""The charter's platform source: a GrowthBook or Statsig experiment (``growthbook:EXP_KEY``)
whose latest results each refresh analyses, instead of a warehouse query. The API key stays in the
bot's environment; only the platform and the experiment's key are stored.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("experiments", sa.Column("source_platform", sa.String(220), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite ≥ 3.35): a batch copy of `experiments` would drop the table its
        # analyses and decisions reference (ON DELETE CASCADE) and lose them.
        op.execute("ALTER TABLE experiments DROP COLUMN source_platform")
    else:
        op.drop_column("experiments", "source_platform")
