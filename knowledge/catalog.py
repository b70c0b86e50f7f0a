"""Configured sources (stored in the database) and knowledge-base statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from knowledge.errors import ConfigurationError, NotFoundError
from knowledge.models import Document, Source, SyncRun
from knowledge.sources import validate_options


def add_source(session: Session, name: str, kind: str, options: dict[str, Any]) -> Source:
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ConfigurationError("A source name uses letters, digits, '-' and '_' only.")
    validate_options(kind, options)
    if session.scalar(select(Source).where(Source.name == name)):
        raise ConfigurationError(f"A source named {name!r} exists already.")
    source = Source(name=name, kind=kind, options=options)
    session.add(source)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConfigurationError(f"A source named {name!r} exists already.") from exc
    return source


def get_source(session: Session, name: str) -> Source:
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        raise NotFoundError(f"No source named {name!r}. See `supportbot sources list`.")
    return source


def remove_source(session: Session, name: str) -> None:
    session.delete(get_source(session, name))


@dataclass
class SourceStatus:
    name: str
    kind: str
    options: dict[str, Any]
    documents: int
    last_run_status: str | None
    last_run_finished: datetime | None


def list_sources(session: Session) -> list[SourceStatus]:
    docs = (
        select(Document.source_id, func.count().label("n"))
        .where(Document.deleted_at.is_(None))
        .group_by(Document.source_id)
        .subquery()
    )
    last = (
        select(SyncRun.source_id, SyncRun.status, SyncRun.finished_at)
        .distinct(SyncRun.source_id)
        .order_by(SyncRun.source_id, SyncRun.started_at.desc())
        .subquery()
    )
    rows = session.execute(
        select(Source, func.coalesce(docs.c.n, 0), last.c.status, last.c.finished_at)
        .outerjoin(docs, docs.c.source_id == Source.id)
        .outerjoin(last, last.c.source_id == Source.id)
        .order_by(Source.name)
    )
    return [SourceStatus(s.name, s.kind, dict(s.options), n, st, fin) for s, n, st, fin in rows]
