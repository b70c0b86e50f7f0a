"""Scheduler and stale documents: verification and "already reported" marks on documents.

APScheduler's own job-store table (`apscheduler_jobs`) is not created here: APScheduler creates
and owns it (see jobs/scheduler.py), and migrations/env.py keeps autogenerate away from it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("verified_at", sa.DateTime(timezone=True)))
    op.add_column("documents", sa.Column("verified_by", sa.Text))
    op.add_column("documents", sa.Column("stale_reported_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("documents", "stale_reported_at")
    op.drop_column("documents", "verified_by")
    op.drop_column("documents", "verified_at")
