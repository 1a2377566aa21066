"""Scheduled looks and digests: the charter's refresh schedule and the claim table of due runs.

``scheduled_runs`` holds one row per (kind, subject, due time) that some bot process claimed: the
unique constraint lets exactly one of several processes sharing the history run a scheduled look
('look', experiment id) or a channel's digest ('digest', ``team:channel``); ``outcome`` says
what came of it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("experiments", sa.Column("refresh_schedule", sa.String(100), nullable=True))
    op.create_table(
        "scheduled_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(255), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_scheduled_runs"),
        sa.UniqueConstraint(
            "kind", "subject", "due_at", name="uq_scheduled_runs_kind_subject_due_at"
        ),
        sa.CheckConstraint("kind IN ('look', 'digest')", name="ck_scheduled_runs_kind"),
    )


def downgrade() -> None:
    op.drop_table("scheduled_runs")
    if op.get_bind().dialect.name == "sqlite":
        # In place (SQLite ≥ 3.35): a batch copy of `experiments` would drop the table its
        # analyses and decisions reference (ON DELETE CASCADE) and lose them.
        op.execute("ALTER TABLE experiments DROP COLUMN refresh_schedule")
    else:
        op.drop_column("experiments", "refresh_schedule")
