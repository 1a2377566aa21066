"""Initial history schema: team counters, experiments, analyses (one per look), decisions.

Revision ID: 0001
Revises:
Create Date: 2024-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON(none_as_null=True)  # plain JSON on PostgreSQL too: numbers come back as written
SLACK_ID = sa.String(64)
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "team_counters",
        sa.Column("team_id", SLACK_ID, nullable=False),
        sa.Column("last_experiment_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name="pk_team_counters"),
    )
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", SLACK_ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("channel_id", SLACK_ID, nullable=False),
        sa.Column("thread_ts", SLACK_ID, nullable=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=True),
        sa.Column("hypothesis", sa.Text(), nullable=True),
        sa.Column("target_segment", sa.String(200), nullable=True),
        sa.Column("primary_metric", sa.String(200), nullable=True),
        sa.Column("guardrails", JSON, nullable=False),
        sa.Column("expected_split", JSON, nullable=True),
        sa.Column("planned_looks", sa.Integer(), nullable=True),
        sa.Column("target_sample_size", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("rice_reach", sa.Float(), nullable=True),
        sa.Column("rice_impact", sa.Float(), nullable=True),
        sa.Column("rice_confidence", sa.Float(), nullable=True),
        sa.Column("rice_effort", sa.Float(), nullable=True),
        sa.Column("rice_score", sa.Float(), nullable=True),
        sa.Column("look_count", sa.Integer(), nullable=False),
        sa.Column("created_by", SLACK_ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("charter_changes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_experiments"),
        sa.UniqueConstraint("team_id", "number", name="uq_experiments_team_id_number"),
        sa.UniqueConstraint(
            "team_id", "channel_id", "thread_ts", name="uq_experiments_team_id_channel_id_thread_ts"
        ),
        sa.CheckConstraint(
            "status IN ('proposed', 'running', 'completed')", name="ck_experiments_status"
        ),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('launched', 'held', 'rolled-back')",
            name="ck_experiments_outcome",
        ),
        sa.CheckConstraint("look_count >= 0", name="ck_experiments_look_count"),
    )
    op.create_index(
        "ix_experiments_team_id_channel_id_created_at",
        "experiments",
        ["team_id", "channel_id", "created_at"],
    )
    op.create_index(
        "ix_experiments_team_id_status_rice_score",
        "experiments",
        ["team_id", "status", "rice_score"],
    )
    op.create_table(
        "analyses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", SLACK_ID, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("look", sa.Integer(), nullable=False),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(128), nullable=False),
        sa.Column("health_status", sa.String(16), nullable=False),
        sa.Column("verdict_kind", sa.String(16), nullable=False),
        sa.Column("verdict_reason", sa.Text(), nullable=False),
        sa.Column("result", JSON, nullable=False),
        sa.Column("memo_markdown", sa.Text(), nullable=True),
        sa.Column("user_id", SLACK_ID, nullable=True),
        sa.Column("channel_id", SLACK_ID, nullable=True),
        sa.Column("thread_ts", SLACK_ID, nullable=True),
        sa.Column("message_ts", SLACK_ID, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_analyses"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name="fk_analyses_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("experiment_id", "look", name="uq_analyses_experiment_id_look"),
        sa.CheckConstraint("look >= 1", name="ck_analyses_look"),
        sa.CheckConstraint(
            "health_status IN ('healthy', 'warning', 'blocked')", name="ck_analyses_health_status"
        ),
        sa.CheckConstraint(
            "verdict_kind IN ('launch', 'hold', 'rollback')", name="ck_analyses_verdict_kind"
        ),
    )
    op.create_index("ix_analyses_team_id_created_at", "analyses", ["team_id", "created_at"])
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", SLACK_ID, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("user_id", SLACK_ID, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("bot_verdict", sa.String(16), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_decisions"),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name="fk_decisions_experiment_id_experiments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["analyses.id"],
            name="fk_decisions_analysis_id_analyses",
            ondelete="SET NULL",
        ),
        sa.CheckConstraint(
            "decision IN ('launched', 'held', 'rolled-back')", name="ck_decisions_decision"
        ),
        sa.CheckConstraint(
            "bot_verdict IS NULL OR bot_verdict IN ('launch', 'hold', 'rollback')",
            name="ck_decisions_bot_verdict",
        ),
    )
    op.create_index(
        "ix_decisions_experiment_id_created_at", "decisions", ["experiment_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_table("decisions")
    op.drop_table("analyses")
    op.drop_table("experiments")
    op.drop_table("team_counters")
