"""The job bodies: thin wrappers that run `knowledge` functions as recorded, exclusive runs.

Every run goes through `knowledge.runs.exclusive_run` (directly, or via `refresh_source`), so a
run is recorded with its trigger (schedule | operator | cli) and who, a crash ends it `failed`,
and a second trigger of the same job (and source) is refused with "already running" — whether it
comes from the scheduler, the CLI or the Slack operator command, which all call `run_job`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from knowledge.deliveries import prune_deliveries
from knowledge.digest import Digest, build_digest
from knowledge.embeddings import Embedder
from knowledge.errors import NotFoundError
from knowledge.operations import refresh_sources
from knowledge.runs import exclusive_run
from knowledge.stale import StaleDocument, StaleRules, mark_reported, scan, unreported
from knowledge.sync import OpenSource

log = logging.getLogger(__name__)

REFRESH, STALE_SCAN, DIGEST, HOUSEKEEPING = "refresh", "stale_scan", "digest", "housekeeping"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class JobContext:
    """Everything a job needs, built once at the composition root (no settings, no Slack here)."""

    sessions: sessionmaker[Session]
    embedder: Callable[[], Embedder]  # called on first use: the local model takes seconds to load
    open_source: OpenSource
    chunking: Mapping[str, int] = field(default_factory=dict)
    stale_rules: StaleRules = StaleRules()
    gap_similarity: float = 0.75
    # Plain callables from bot/notices.py; None when no operator channel is configured.
    notify_stale: Callable[[list[StaleDocument]], list[int]] | None = None
    notify_digest: Callable[[Digest], bool] | None = None
    clock: Callable[[], datetime] = utcnow


def refresh(
    ctx: JobContext, source: str | None = None, *, trigger: str = "schedule", who: str | None = None,
    full: bool = False,
) -> dict[str, Any]:
    """Sync one source (or all); a source already being refreshed is skipped, not waited for."""
    outcomes = refresh_sources(
        ctx.sessions, source, embedder=ctx.embedder(), open_source=ctx.open_source,
        trigger=trigger, who=who, full=full, **ctx.chunking,
    )
    for outcome in outcomes:
        if outcome.skipped:
            log.info("refresh of %s skipped: %s", outcome.source, outcome.skipped)
    return {
        o.source: o.report.status if o.report else "already running" for o in outcomes
    }


def stale_scan(ctx: JobContext, *, trigger: str = "schedule", who: str | None = None) -> dict[str, Any]:
    """Flag stale documents, then tell the operator channel about the ones not reported yet."""
    with exclusive_run(ctx.sessions, STALE_SCAN, trigger=trigger, who=who) as run:
        now = ctx.clock()
        with ctx.sessions.begin() as session:
            newly = scan(session, now=now, rules=ctx.stale_rules)
        run.counts = {"newly_stale": len(newly), "reported": 0}
        if ctx.notify_stale is not None:
            with ctx.sessions() as session:
                pending = unreported(session)
            # Marked only after Slack accepted the message: a failed post is retried next run.
            posted = ctx.notify_stale(pending) if pending else []
            with ctx.sessions.begin() as session:
                mark_reported(session, posted, now=now)
            run.counts["reported"] = len(posted)
        return run.counts


def digest(ctx: JobContext, *, trigger: str = "schedule", who: str | None = None) -> dict[str, Any]:
    """The weekly digest: stale articles and the week's unanswered questions grouped by topic."""
    with exclusive_run(ctx.sessions, DIGEST, trigger=trigger, who=who) as run:
        with ctx.sessions() as session:
            result = build_digest(session, embedder=_Lazy(ctx.embedder), now=ctx.clock(), similarity=ctx.gap_similarity)
        posted = bool(ctx.notify_digest(result)) if ctx.notify_digest is not None else False
        # `posted` moves the next digest's window start (knowledge/gaps.py: digest_window).
        run.counts = {"stale": result.stale_total, "questions": result.questions, "topics": len(result.gaps), "posted": posted}
        return run.counts


def housekeeping(ctx: JobContext, *, trigger: str = "schedule", who: str | None = None) -> dict[str, Any]:
    """Daily: forget Slack event ids older than Slack's retry window (they only dedupe redeliveries)."""
    with exclusive_run(ctx.sessions, HOUSEKEEPING, trigger=trigger, who=who) as run:
        with ctx.sessions.begin() as session:
            run.counts = {"slack_events_pruned": prune_deliveries(session)}
        return run.counts


class _Lazy:
    """An Embedder that builds the real one only if there is something to embed."""

    def __init__(self, build: Callable[[], Embedder]) -> None:
        self._build = build

    def embed_documents(self, texts):  # noqa: ANN001, ANN201 - Embedder protocol
        return self._build().embed_documents(texts)

    def embed_query(self, text):  # noqa: ANN001, ANN201 - Embedder protocol
        return self._build().embed_query(text)


JOBS: dict[str, Callable[..., dict[str, Any]]] = {
    REFRESH: refresh, STALE_SCAN: stale_scan, DIGEST: digest, HOUSEKEEPING: housekeeping,
}


def run_job(
    ctx: JobContext, name: str, key: str | None = None, *, trigger: str, who: str | None = None, full: bool = False
) -> dict[str, Any]:
    """Run a job now (for the scheduler, the CLI or the Slack operator command). Raises AlreadyRunningError."""
    if name not in JOBS:
        raise NotFoundError(f"No job named {name!r}; jobs: {', '.join(JOBS)}.")
    if name == REFRESH:
        return refresh(ctx, key, trigger=trigger, who=who, full=full)
    if key:
        raise NotFoundError(f"The {name} job takes no source.")
    return JOBS[name](ctx, trigger=trigger, who=who)


def scheduled(name: str, key: str | None = None, full: bool = False) -> None:
    """What the job store holds for every job: a picklable reference plus the job's name and source.

    `jobs.scheduler.ContextExecutor` runs it as `run_job(ctx, name, key, trigger="schedule")`; the
    context (database, embedder, notices) cannot be pickled, so it is never stored."""
    raise RuntimeError(f"the scheduled job {name} runs through jobs.scheduler.ContextExecutor, which supplies its context")
