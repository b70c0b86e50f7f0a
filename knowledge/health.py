"""Knowledge-base health and answer statistics (App Home, `/supportbot-admin status`, `supportbot stats`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from knowledge.models import Answer, Document, Feedback, Source, SyncRun


@dataclass(frozen=True)
class SourceHealth:
    name: str
    kind: str
    documents: int  # live (not tombstoned) documents
    stale: int
    last_sync_status: str | None  # running | succeeded | partial | failed; None: never synced
    last_sync_at: datetime | None
    last_sync_counts: dict[str, int] = field(default_factory=dict)
    last_sync_errors: int = 0


@dataclass(frozen=True)
class KbHealth:
    sources: list[SourceHealth]

    @property
    def documents(self) -> int:
        return sum(s.documents for s in self.sources)

    @property
    def stale(self) -> int:
        return sum(s.stale for s in self.sources)


@dataclass(frozen=True)
class AnswerStats:
    days: int
    total: int
    answered: int
    refused: int
    fallback: int
    escalated: int
    thumbs_up: int
    thumbs_down: int

    @property
    def up_rate(self) -> float | None:
        """Share of 👍 among votes; None without votes."""
        votes = self.thumbs_up + self.thumbs_down
        return self.thumbs_up / votes if votes else None

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "up_rate": self.up_rate}


def kb_health(session: Session) -> KbHealth:
    live = Document.deleted_at.is_(None)
    docs = dict(
        (row.source_id, (row.documents, row.stale))
        for row in session.execute(
            select(
                Document.source_id,
                func.count().label("documents"),
                func.count().filter(Document.stale_reason.is_not(None)).label("stale"),
            ).where(live).group_by(Document.source_id)
        )
    )
    # DISTINCT ON: each source's most recent run.
    last = (
        select(SyncRun)
        .distinct(SyncRun.source_id)
        .order_by(SyncRun.source_id, SyncRun.started_at.desc(), SyncRun.id.desc())
        .subquery()
    )
    last_run = aliased(SyncRun, last)
    rows = session.execute(
        select(Source, last_run).outerjoin(last_run, last_run.source_id == Source.id).order_by(Source.name)
    ).all()
    sources = []
    for source, run in rows:
        documents, stale = docs.get(source.id, (0, 0))
        counts = {k: getattr(run, k) for k in ("added", "updated", "unchanged", "deleted", "failed")} if run else {}
        sources.append(SourceHealth(
            name=source.name, kind=source.kind, documents=documents, stale=stale,
            last_sync_status=run.status if run else None,
            last_sync_at=(run.finished_at or run.started_at) if run else None,
            last_sync_counts=counts, last_sync_errors=len(run.errors or []) if run else 0,
        ))
    return KbHealth(sources)


def answer_stats(session: Session, *, days: int = 7, now: datetime | None = None) -> AnswerStats:
    """Answers given in the `days` days before `now` (default: until now) and the votes on them."""
    window = Answer.created_at >= (now or datetime.now(timezone.utc)) - timedelta(days=days)
    if now is not None:
        window &= Answer.created_at <= now
    a = session.execute(
        select(
            func.count(),
            func.count().filter(Answer.status == "answered"),
            func.count().filter(Answer.status == "refused"),
            func.count().filter(Answer.status == "fallback"),
            func.count().filter(Answer.escalated),
        ).where(window)
    ).one()
    votes = session.execute(
        select(
            func.coalesce(func.sum(case((Feedback.vote > 0, 1), else_=0)), 0),
            func.coalesce(func.sum(case((Feedback.vote < 0, 1), else_=0)), 0),
        )
        .join(Answer, Answer.id == Feedback.answer_id)
        .where(window)
    ).one()
    return AnswerStats(days, *a, int(votes[0]), int(votes[1]))
