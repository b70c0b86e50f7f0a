"""Answers audit trail, content gaps, model registry, document stale flag.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Per-lexeme chunk counts: lets lexical search ignore corpus-wide words (see retrieval.py).
    # Qualified names: PostgreSQL 17+ refreshes materialized views with a restricted search_path.
    schema = op.get_bind().exec_driver_sql("SELECT current_schema()").scalar()
    op.execute(
        f'CREATE MATERIALIZED VIEW term_stats AS SELECT word, ndoc, (SELECT count(*) FROM "{schema}".chunks) AS total '
        f"FROM ts_stat('SELECT tsv FROM \"{schema}\".chunks')"
    )
    op.execute("CREATE UNIQUE INDEX ix_term_stats_word ON term_stats (word)")
    op.add_column("documents", sa.Column("stale_reason", sa.Text))
    op.add_column("documents", sa.Column("stale_since", sa.DateTime(timezone=True)))
    op.create_table(
        "answers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("rewritten_query", sa.Text, nullable=False),
        sa.Column("history_turns", sa.Integer, nullable=False),
        sa.Column("retrieved", postgresql.JSONB, nullable=False),
        sa.Column("citations", postgresql.JSONB, nullable=False),
        sa.Column("answer_text", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("generator", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("model", sa.Text),
        sa.Column("prompt_version", sa.String(40), nullable=False),
        sa.Column("prompt_tokens", sa.Integer, nullable=False),
        sa.Column("completion_tokens", sa.Integer, nullable=False),
        sa.Column("cost_usd", sa.Float, nullable=False),
        sa.Column("latency_ms", postgresql.JSONB, nullable=False),
        sa.Column("fallbacks", postgresql.JSONB, nullable=False),
        sa.Column("channel", sa.Text),
        sa.Column("thread_ts", sa.Text),
        sa.Column("user_id", sa.Text),
        sa.Column("escalated", sa.Boolean, nullable=False),
        sa.Column("corrected_text", sa.Text),
    )
    op.create_index("ix_answers_created_at", "answers", ["created_at"])
    op.create_table(
        "content_gaps",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("answer_id", sa.Integer, sa.ForeignKey("answers.id", ondelete="SET NULL")),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("top_similarity", sa.Float),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("backend", sa.String(20), nullable=False),
        sa.Column("base_model", sa.Text),
        sa.Column("base_url", sa.Text),
        sa.Column("api_key_ref", sa.Text),
        sa.Column("dataset_hash", sa.String(64)),
        sa.Column("job_id", sa.Text),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("eval_results", postgresql.JSONB, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True)),
    )
    op.create_index(
        "uq_model_versions_active", "model_versions", ["active"], unique=True, postgresql_where=sa.text("active")
    )


def downgrade() -> None:
    op.drop_table("model_versions")
    op.drop_table("content_gaps")
    op.drop_table("answers")
    op.drop_column("documents", "stale_since")
    op.drop_column("documents", "stale_reason")
    op.execute("DROP MATERIALIZED VIEW term_stats")
