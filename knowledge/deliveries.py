"""At-most-once handling of delivered events, shared by every process and replica through Postgres.

Slack redelivers an event it thinks was missed (same `event_id`, `X-Slack-Retry-Num`), and every
replica behind a load balancer may see one. The first INSERT of an id wins; the rest skip.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from knowledge.models import SlackEvent

# Slack gives up retrying after about an hour; a day leaves a wide margin.
KEEP = timedelta(days=1)


def first_delivery(session: Session, event_id: str) -> bool:
    """True exactly once per event id, whichever process asks first."""
    stmt = insert(SlackEvent).values(event_id=event_id).on_conflict_do_nothing().returning(SlackEvent.event_id)
    return session.execute(stmt).scalar() is not None


def prune_deliveries(session: Session, *, keep: timedelta = KEEP) -> int:
    """Forget ids older than `keep`; returns how many were dropped."""
    return session.execute(delete(SlackEvent).where(SlackEvent.received_at < func.now() - keep)).rowcount
