"""The weekly digest: what the help center needs — stale articles and missing ones (content gaps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from knowledge.embeddings import Embedder
from knowledge.gaps import GapCluster, cluster_questions, digest_window, gap_questions
from knowledge.models import Document
from knowledge.stale import StaleDocument, list_stale


@dataclass
class Digest:
    since: datetime
    until: datetime
    stale_total: int
    stale: list[StaleDocument] = field(default_factory=list)  # longest-stale first, at most `stale_limit`
    questions: int = 0  # unanswered/refused questions in the window
    gaps: list[GapCluster] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.stale_total and not self.questions


def build_digest(
    session: Session, *, embedder: Embedder, now: datetime, similarity: float = 0.75, stale_limit: int = 8
) -> Digest:
    since, until = digest_window(session, now=now)
    questions = gap_questions(session, since=since, until=until)
    total = session.scalar(
        select(func.count()).select_from(Document).where(Document.stale_reason.is_not(None), Document.deleted_at.is_(None))
    )
    return Digest(
        since=since,
        until=until,
        stale_total=total or 0,
        stale=list_stale(session, limit=stale_limit),
        questions=len(questions),
        gaps=cluster_questions(questions, embedder=embedder, threshold=similarity),
    )
