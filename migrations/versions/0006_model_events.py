"""Model registry audit.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("model_id", sa.Integer, sa.ForeignKey("model_versions.id", ondelete="SET NULL")),
        sa.Column("previous_model_id", sa.Integer, sa.ForeignKey("model_versions.id", ondelete="SET NULL")),
        sa.Column("who", sa.Text),
        sa.Column("detail", postgresql.JSONB, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("model_events")
