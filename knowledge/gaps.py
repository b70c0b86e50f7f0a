"""Content gaps: the questions the help center could not answer, grouped into missing articles.

The weekly digest shows "14 × how do I export to ADP?" rather than fourteen lines, so questions
are clustered by meaning: each one joins the most similar existing group if the cosine similarity
to that group's centroid reaches the threshold, else it starts a new group (one greedy pass,
centroids updated as groups grow). That is O(questions × groups), needs no extra library, and
with a week of questions (tens to hundreds) it is instant; the threshold is the knob.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from knowledge.embeddings import Embedder
from knowledge.models import ContentGap, JobRun

DIGEST = "digest"


@dataclass
class GapCluster:
    label: str  # the question closest to the group's centre: the best title for the missing article
    count: int
    examples: list[str] = field(default_factory=list)  # a few other phrasings, most typical first


@dataclass
class _Group:
    members: list[tuple[str, list[float]]]
    total: list[float]

    def centroid(self) -> list[float]:
        return _unit(self.total)


def _unit(v: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b))  # both unit vectors


def cluster_questions(
    questions: Sequence[str], *, embedder: Embedder, threshold: float = 0.75, examples: int = 3
) -> list[GapCluster]:
    """Group questions by similarity; biggest groups first."""
    texts = [q.strip() for q in questions if q and q.strip()]
    if not texts:
        return []
    vectors = [_unit(v) for v in embedder.embed_documents(texts)]
    groups: list[_Group] = []
    for text, vec in zip(texts, vectors):
        best, best_sim = None, threshold
        for group in groups:
            sim = _cosine(group.centroid(), vec)
            if sim >= best_sim:
                best, best_sim = group, sim
        if best is None:
            groups.append(_Group([(text, vec)], list(vec)))
        else:
            best.members.append((text, vec))
            best.total = [t + x for t, x in zip(best.total, vec)]
    clusters = []
    for group in groups:
        centre = group.centroid()
        ranked = sorted(group.members, key=lambda m: -_cosine(centre, m[1]))
        distinct = list(dict.fromkeys(text for text, _ in ranked))
        clusters.append(GapCluster(distinct[0], len(group.members), distinct[1 : 1 + examples]))
    return sorted(clusters, key=lambda c: (-c.count, c.label))


def gap_questions(session: Session, *, since: datetime, until: datetime) -> list[str]:
    rows = session.scalars(
        select(ContentGap.question)
        .where(ContentGap.created_at >= since, ContentGap.created_at < until)
        .order_by(ContentGap.created_at)
    )
    return list(rows)


def digest_window(session: Session, *, now: datetime, days: int = 7, max_days: int = 28) -> tuple[datetime, datetime]:
    """Since the last digest that was posted, so no question is listed twice and a skipped week is
    not lost; the first digest looks back `days`, none looks back more than `max_days`."""
    last = session.scalar(
        select(JobRun.started_at)
        .where(
            JobRun.job == DIGEST, JobRun.status == "succeeded", JobRun.started_at < now,
            JobRun.counts["posted"].as_boolean().is_(True),
        )
        .order_by(JobRun.started_at.desc())
        .limit(1)
    )
    since = last if last is not None else now - timedelta(days=days)
    return max(since, now - timedelta(days=max_days)), now
