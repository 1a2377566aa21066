"""Event de-duplication across bot processes: processed_events and analyses.event_key.

Two bot processes sharing one PostgreSQL both receive a redelivered Slack event; the first to
insert its key into processed_events analyses it, and analyses.event_key (unique) guarantees one
stored look per event even if a claim is bypassed. Existing analyses keep a NULL key.

Revision ID: 0002
Revises: 0001
Create Date: 2024-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "processed_events",
        sa.Column("team_id", sa.String(64), nullable=False),
        sa.Column("event_key", sa.String(255), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "event_key", name="pk_processed_events"),
    )
    op.create_index("ix_processed_events_claimed_at", "processed_events", ["claimed_at"])
    op.add_column("analyses", sa.Column("event_key", sa.String(255), nullable=True))
    op.create_index("ix_analyses_event_key", "analyses", ["event_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.drop_index("ix_analyses_event_key")
        batch.drop_column("event_key")
    op.drop_index("ix_processed_events_claimed_at", table_name="processed_events")
    op.drop_table("processed_events")
