"""Tables. Indexes are declared here so Alembic sees them; the one exception is the HNSW index,
whose vector dimension depends on the embedder and is managed by `knowledge.vectors`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    ARRAY,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    # Connector options (path, base URL, locale…). Credentials never go here: they come from settings.
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = _now()

    documents: Mapped[list[Document]] = relationship(back_populates="source", cascade="all, delete-orphan")


class Document(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("source_id", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="published")
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    labels: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    owner: Mapped[str | None] = mapped_column(Text)
    breadcrumb: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    # How the source's listing names this document and its change marker (see sources/base.py).
    source_ref: Mapped[str] = mapped_column(Text)
    source_version: Mapped[str | None] = mapped_column(Text)
    meta: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_seen_at: Mapped[datetime] = _now()
    synced_at: Mapped[datetime] = _now()
    # Tombstone: set when a *complete* listing no longer contains the document.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set by the stale scan; answers citing a stale document carry a badge.
    stale_reason: Mapped[str | None] = mapped_column(Text)
    stale_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # "Mark verified" restarts the review clock without touching the source (knowledge/stale.py).
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verified_by: Mapped[str | None] = mapped_column(Text)
    # When the operator channel was told; cleared when the document stops being stale, so one
    # stale episode is reported exactly once.
    stale_reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    source: Mapped[Source] = relationship(back_populates="documents")
    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="document", cascade="all, delete-orphan", order_by="Chunk.ord"
    )


# Title/breadcrumb words weigh more than body words in lexical ranking ('A' vs 'D').
TSV_EXPRESSION = (
    "setweight(to_tsvector('english', coalesce(breadcrumb, '')), 'A') || "
    "setweight(to_tsvector('english', content), 'D')"
)


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_tsv", "tsv", postgresql_using="gin"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    ord: Mapped[int] = mapped_column(Integer)
    breadcrumb: Mapped[str] = mapped_column(Text)
    content: Mapped[str] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(Integer)
    # Dimension-less column: the dimension is a property of the configured embedder (see vectors.py).
    embedding: Mapped[list[float]] = mapped_column(Vector())
    tsv: Mapped[Any] = mapped_column(TSVECTOR, Computed(TSV_EXPRESSION, persisted=True))

    document: Mapped[Document] = relationship(back_populates="chunks")


class EmbeddingSpace(Base):
    """Which model produced the stored vectors (one row)."""

    __tablename__ = "embedding_space"

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    model: Mapped[str] = mapped_column(Text)
    dim: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = _now()


class SyncRun(Base):
    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(20), default="cli")
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    listing_complete: Mapped[bool] = mapped_column(Boolean, default=False)
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, str]]] = mapped_column(JSONB, default=list)

    source: Mapped[Source] = relationship()


class Answer(Base):
    """Audit trail: why the bot said what it said (and raw material for feedback and fine-tuning)."""

    __tablename__ = "answers"
    __table_args__ = (Index("ix_answers_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = _now()
    question: Mapped[str] = mapped_column(Text)  # redacted unless the operator allows raw text
    rewritten_query: Mapped[str] = mapped_column(Text)
    history_turns: Mapped[int] = mapped_column(Integer, default=0)
    retrieved: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    citations: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    answer_text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))  # answered | refused | fallback
    generator: Mapped[str] = mapped_column(String(20))  # model | extractive | none
    reason: Mapped[str | None] = mapped_column(Text)  # why refused / why fallback
    model: Mapped[str | None] = mapped_column(Text)
    prompt_version: Mapped[str] = mapped_column(String(40))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(default=0.0)
    latency_ms: Mapped[dict[str, float]] = mapped_column(JSONB, default=dict)
    fallbacks: Mapped[list[dict[str, str]]] = mapped_column(JSONB, default=list)
    # Where it was asked (filled by the Slack bot; user ids only when the operator enables it).
    channel: Mapped[str | None] = mapped_column(Text)
    thread_ts: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(Text)
    escalated: Mapped[bool] = mapped_column(Boolean, default=False)
    corrected_text: Mapped[str | None] = mapped_column(Text)  # an operator's better answer


class ContentGap(Base):
    """A question the help center could not answer: the raw list for the weekly digest."""

    __tablename__ = "content_gaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = _now()
    answer_id: Mapped[int | None] = mapped_column(ForeignKey("answers.id", ondelete="SET NULL"))
    question: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    top_similarity: Mapped[float | None] = mapped_column()


class ModelVersion(Base):
    """Brand-voice model registry. At most one row is active (partial unique index)."""

    __tablename__ = "model_versions"
    __table_args__ = (
        Index("uq_model_versions_active", "active", unique=True, postgresql_where="active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)  # the model id the endpoint serves
    backend: Mapped[str] = mapped_column(String(20))  # openai | export | register
    base_model: Mapped[str | None] = mapped_column(Text)
    base_url: Mapped[str | None] = mapped_column(Text)  # None: the configured OpenAI-compatible endpoint
    api_key_ref: Mapped[str | None] = mapped_column(Text)  # a name from MODEL_API_KEYS, never the key
    dataset_hash: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="ready")
    eval_results: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = _now()
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class JobRun(Base):
    """One run of a job (refresh, stale scan, digest, reindex…), whoever triggered it."""

    __tablename__ = "job_runs"
    __table_args__ = (Index("ix_job_runs_job_started", "job", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(50))
    key: Mapped[str] = mapped_column(Text, default="")  # e.g. the source name; "" for global jobs
    trigger: Mapped[str] = mapped_column(String(20))  # schedule | operator | cli
    who: Mapped[str | None] = mapped_column(Text)  # operator's Slack id or CLI user
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | succeeded | failed
    started_at: Mapped[datetime] = _now()
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    counts: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    error: Mapped[str | None] = mapped_column(Text)


class Feedback(Base):
    """One 👍/👎 per Slack user per answer (changeable); 👎 may carry a reason. Read by the stale scan."""

    __tablename__ = "feedback"
    __table_args__ = (
        UniqueConstraint("answer_id", "user_id", name="uq_feedback_answer_user"),
        CheckConstraint("vote IN (-1, 1)", name="ck_feedback_vote"),
        Index("ix_feedback_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    answer_id: Mapped[int] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(Text)
    vote: Mapped[int] = mapped_column(SmallInteger)  # +1 or -1
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()


class SlackEvent(Base):
    """Event ids already taken: Slack retries (and replicas) deliver one event more than once."""

    __tablename__ = "slack_events"
    __table_args__ = (Index("ix_slack_events_received_at", "received_at"),)

    event_id: Mapped[str] = mapped_column(Text, primary_key=True)
    received_at: Mapped[datetime] = _now()


class ModelEvent(Base):
    """Audit of the model registry: every register, promote and rollback, with who did it."""

    __tablename__ = "model_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = _now()
    action: Mapped[str] = mapped_column(String(20))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    previous_model_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    who: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
