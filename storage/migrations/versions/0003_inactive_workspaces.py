"""Slack workspaces whose installation stopped working (token revoked, app uninstalled).

Revision ID: 0003_inactive_workspaces
Revises: 0002_slack_widget
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_inactive_workspaces"
down_revision: str | None = "0002_slack_widget"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "slack_inactive_workspaces",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "since", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_slack_inactive_workspaces")),
    )


def downgrade() -> None:
    op.drop_table("slack_inactive_workspaces")
