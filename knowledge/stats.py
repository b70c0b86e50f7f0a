"""Operational totals from the database: answers by status, tokens, cost, per-stage latency,
sync counts and job outcomes. The Prometheus endpoint (everything so far) and `supportbot stats`
(the last N days) read the same numbers, whichever replica or CLI produced them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Float, cast, func, select
from sqlalchemy.orm import Session

from knowledge.models import Answer, JobRun, Source, SyncRun

STAGES = ("rewrite", "retrieve", "generate", "verify", "total")
# Latency buckets in seconds (Prometheus convention), from a fast retrieval to a slow model.
BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SYNC_COUNTS = ("added", "updated", "unchanged", "deleted", "failed")


@dataclass
class Histogram:
    buckets: list[tuple[float, int]]  # (upper bound in s, cumulative count)
    count: int
    sum_seconds: float

    def quantile(self, q: float) -> float | None:
        """Upper bound of the bucket holding the q-quantile (None without observations)."""
        if not self.count:
            return None
        target = q * self.count
        return next((le for le, n in self.buckets if n >= target), float("inf"))


@dataclass
class Stats:
    since: datetime | None
    answers: dict[str, int] = field(default_factory=dict)  # status -> count
    generators: dict[str, int] = field(default_factory=dict)  # model | extractive | none -> count
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latency: dict[str, Histogram] = field(default_factory=dict)  # stage -> histogram
    percentiles: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)  # stage -> (p50, p95) s
    syncs: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, status) -> runs
    synced_documents: dict[tuple[str, str], int] = field(default_factory=dict)  # (source, count kind) -> documents
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)  # (job, status) -> runs


def collect(session: Session, *, since: datetime | None = None) -> Stats:
    stats = Stats(since)
    answers_where = [Answer.created_at >= since] if since else []
    for status, generator, n, prompt, completion, cost in session.execute(
        select(Answer.status, Answer.generator, func.count(), func.sum(Answer.prompt_tokens),
               func.sum(Answer.completion_tokens), func.sum(Answer.cost_usd))
        .where(*answers_where).group_by(Answer.status, Answer.generator)
    ):
        stats.answers[status] = stats.answers.get(status, 0) + n
        stats.generators[generator] = stats.generators.get(generator, 0) + n
        stats.prompt_tokens += prompt or 0
        stats.completion_tokens += completion or 0
        stats.cost_usd += cost or 0.0
    for stage in STAGES:
        seconds = cast(Answer.latency_ms[stage].astext, Float) / 1000.0
        row = session.execute(
            select(func.count(seconds), func.coalesce(func.sum(seconds), 0.0),
                   *(func.count().filter(seconds <= le) for le in BUCKETS))
            .where(*answers_where)
        ).one()
        stats.latency[stage] = Histogram(list(zip(BUCKETS, row[2:])), row[0], float(row[1]))
        p50, p95 = session.execute(
            select(func.percentile_cont(0.5).within_group(seconds), func.percentile_cont(0.95).within_group(seconds))
            .where(*answers_where)
        ).one()
        stats.percentiles[stage] = (p50, p95)
    sync_where = [SyncRun.started_at >= since] if since else []
    for name, status, runs, *counts in session.execute(
        select(Source.name, SyncRun.status, func.count(), *(func.sum(getattr(SyncRun, c)) for c in SYNC_COUNTS))
        .join(Source, Source.id == SyncRun.source_id).where(SyncRun.status != "running", *sync_where)
        .group_by(Source.name, SyncRun.status)
    ):
        stats.syncs[(name, status)] = runs
        for kind, n in zip(SYNC_COUNTS, counts):
            stats.synced_documents[(name, kind)] = stats.synced_documents.get((name, kind), 0) + (n or 0)
    job_where = [JobRun.started_at >= since] if since else []
    for job, status, n in session.execute(
        select(JobRun.job, JobRun.status, func.count()).where(JobRun.status != "running", *job_where)
        .group_by(JobRun.job, JobRun.status)
    ):
        stats.jobs[(job, status)] = n
    return stats
