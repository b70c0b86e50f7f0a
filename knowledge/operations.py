"""Operator actions shared by the CLI, the Slack operator command and the scheduler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from knowledge.catalog import get_source
from knowledge.embeddings import Embedder
from knowledge.errors import AlreadyRunningError
from knowledge.models import Source, SyncRun
from knowledge.runs import exclusive_run
from knowledge.sync import OpenSource, SyncReport, sync_source

REFRESH = "refresh"


@dataclass
class RefreshOutcome:
    source: str
    report: SyncReport | None = None
    skipped: str | None = None  # why it did not run (already running)


def refresh_source(
    sessions: sessionmaker[Session],
    name: str,
    *,
    embedder: Embedder,
    open_source: OpenSource,
    trigger: str,
    who: str | None = None,
    full: bool = False,
    chunk_tokens: int = 200,
    chunk_overlap: int = 40,
    progress: Callable[[str], None] | None = None,
) -> SyncReport:
    """Sync one source as a recorded, exclusive `refresh` job. Raises AlreadyRunningError."""
    with exclusive_run(sessions, REFRESH, key=name, trigger=trigger, who=who, kb_write="shared") as run:
        close_interrupted_syncs(sessions, name)
        report = sync_source(
            sessions, name, embedder=embedder, open_source=open_source, full=full, trigger=trigger,
            chunk_tokens=chunk_tokens, chunk_overlap=chunk_overlap, progress=progress,
        )
        run.counts = {k: getattr(report, k) for k in ("added", "updated", "unchanged", "deleted", "failed")}
        run.counts["sync_run_id"] = report.run_id
        if report.status == "failed":
            run.failed = "; ".join(e["reason"] for e in report.errors[-3:]) or "sync failed"
    return report


def close_interrupted_syncs(sessions: sessionmaker[Session], name: str) -> None:
    """We hold the source's refresh lock, so a sync run still marked running was cut short by a
    process that died; close it so health pages stop showing it as running."""
    with sessions.begin() as session:
        session.execute(
            update(SyncRun)
            .where(SyncRun.status == "running", SyncRun.source_id == select(Source.id).where(Source.name == name).scalar_subquery())
            .values(status="failed", finished_at=datetime.now(timezone.utc),
                    errors=[{"document": "", "reason": "interrupted (process stopped)"}])
        )


def refresh_sources(
    sessions: sessionmaker[Session], name: str | None = None, **kwargs
) -> list[RefreshOutcome]:
    """Refresh one source or all of them; a source already being refreshed is skipped, not waited for."""
    with sessions() as session:
        names = [get_source(session, name).name] if name else list(session.scalars(select(Source.name).order_by(Source.name)))
    outcomes = []
    for source in names:
        try:
            outcomes.append(RefreshOutcome(source, report=refresh_source(sessions, source, **kwargs)))
        except AlreadyRunningError as exc:
            outcomes.append(RefreshOutcome(source, skipped=str(exc)))
    return outcomes
