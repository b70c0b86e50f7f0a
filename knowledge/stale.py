"""Stale documents: which help-center articles need a human look, and why.

A document is stale while any rule holds (reasons are stored as one readable line):
- not reviewed for longer than its review interval (Guru-style: updated or verified);
- it links to a page of the same help center that no longer exists;
- answers citing it collected at least N 👎 recently;
- it was deleted at the source (tombstoned): reported once, never answered from again.

Stale documents stay searchable but rank lower (retrieval's `stale_factor`), and answers citing
one carry a badge. `stale_reported_at` makes the operator notice a once-per-episode event: it is
cleared when a document stops being stale, so a later relapse is news again.
All functions take the caller's session; the caller owns the transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, text, update
from sqlalchemy.orm import Session

from knowledge.errors import ConfigurationError, NotFoundError
from knowledge.links import build_index
from knowledge.models import Document, Source
from knowledge.sources.options import bool_option, int_option
from knowledge.sources.policy import interval_days
from knowledge.text import parse_datetime

log = logging.getLogger(__name__)

DELETED = "deleted at the source"


@dataclass(frozen=True)
class StaleRules:
    """Thresholds; global ones come from Settings, a source's options override them."""

    review_days: int = 180
    downvotes: int = 3  # 👎 on answers citing the document within `downvote_days`; 0 turns the rule off
    downvote_days: int = 30
    check_links: bool = True

    def for_source(self, options: Mapping[str, Any]) -> StaleRules:
        rules = self
        if "review_interval" in options:
            rules = replace(rules, review_days=interval_days(options["review_interval"]))
        if "stale_downvotes" in options:
            rules = replace(rules, downvotes=int_option(options, "stale_downvotes", self.downvotes, minimum=0))
        if "check_links" in options:
            rules = replace(rules, check_links=bool_option(options, "check_links"))
        return rules


@dataclass
class StaleDocument:
    document_id: int  # documents.id: what `verify_document` and the "Mark verified" button take
    external_id: str
    source: str
    title: str
    url: str | None
    reason: str
    owner: str | None
    since: datetime | None
    reported_at: datetime | None = None


def _stale_document(doc: Document, source: str) -> StaleDocument:
    return StaleDocument(
        doc.id, doc.external_id, source, doc.title, doc.url, doc.stale_reason or "", doc.owner,
        doc.stale_since, doc.stale_reported_at,
    )


def scan(session: Session, *, now: datetime, rules: StaleRules = StaleRules()) -> list[StaleDocument]:
    """Re-evaluate every document; store reasons; return the documents that became stale now."""
    sources = {s.id: (s.name, _source_rules(rules, s)) for s in session.scalars(select(Source))}
    links = build_index(
        session.execute(select(Document.source_id, Document.url, Document.deleted_at.is_(None)))
    )
    downvotes = downvote_counts(session, since=now - timedelta(days=rules.downvote_days))
    # Tombstones already flagged cannot change any more (unless they come back, then deleted_at is NULL).
    docs = session.scalars(
        select(Document).where(or_(Document.deleted_at.is_(None), Document.stale_reason.is_(None)))
    )
    changes: list[dict[str, Any]] = []
    newly: list[StaleDocument] = []
    for doc in docs:
        name, doc_rules = sources[doc.source_id]
        reasons = _reasons(doc, doc_rules, now=now, links=links, downvotes=downvotes.get(doc.id, 0))
        reason = "; ".join(reasons) or None
        if reason == doc.stale_reason:
            continue
        if reason is None:  # fixed, verified or back at the source: a later relapse is news again
            changes.append({"id": doc.id, "stale_reason": None, "stale_since": None, "stale_reported_at": None})
        elif doc.stale_reason is None:
            since = doc.deleted_at or now
            changes.append({"id": doc.id, "stale_reason": reason, "stale_since": since})
            newly.append(StaleDocument(doc.id, doc.external_id, name, doc.title, doc.url, reason, doc.owner, since))
        else:  # still stale, for other reasons: same episode, already reported or not
            changes.append({"id": doc.id, "stale_reason": reason})
    if changes:
        session.execute(update(Document), changes)  # bulk UPDATE by primary key
    return newly


def _source_rules(rules: StaleRules, source: Source) -> StaleRules:
    try:
        return rules.for_source(source.options or {})
    except ConfigurationError as exc:  # validated at `sources add`; an old row must not stop the scan
        log.warning("source %s: %s; using the global stale thresholds", source.name, exc)
        return rules


def _reasons(doc: Document, rules: StaleRules, *, now: datetime, links: Any, downvotes: int) -> list[str]:
    if doc.deleted_at is not None:
        return [DELETED]
    if doc.status != "published":  # drafts are never cited: nothing to warn about
        return []
    reasons = []
    interval, reviewed = _review_interval(doc, rules), _last_reviewed(doc)
    if now - reviewed > timedelta(days=interval):
        reasons.append(f"not reviewed for {(now - reviewed).days} days (review interval {interval} days)")
    if rules.check_links:
        dead = links.dead_links(doc.source_id, doc.body, base_url=doc.url)
        if dead:
            more = f" (+{len(dead) - 1} more)" if len(dead) > 1 else ""
            reasons.append(f"links to a page that no longer exists: {dead[0]}{more}")
    if rules.downvotes and downvotes >= rules.downvotes:
        reasons.append(f"{downvotes} 👎 on answers citing it in the last {rules.downvote_days} days")
    return reasons


def _review_interval(doc: Document, rules: StaleRules) -> int:
    value = (doc.meta or {}).get("review_interval")
    if value:
        try:
            return interval_days(value)
        except ConfigurationError:
            log.warning("document %s: unreadable review_interval %r", doc.external_id, value)
    return rules.review_days


def _last_reviewed(doc: Document) -> datetime:
    """The latest of: updated at the source, verified in front matter, marked verified here."""
    moments = [doc.updated_at or doc.first_seen_at, doc.verified_at]
    try:
        moments.append(parse_datetime((doc.meta or {}).get("verified_at")))
    except Exception:  # noqa: BLE001 - a bad front-matter date must not stop the scan
        log.warning("document %s: unreadable verified_at", doc.external_id)
    return max(m for m in moments if m is not None)


def downvote_counts(session: Session, *, since: datetime) -> dict[int, int]:
    """👎 per cited document since `since`: one per person and answer (a changed vote counts once,
    as of its latest change)."""
    rows = session.execute(
        text(
            """
            SELECT (c.value->>'document_pk')::int AS document_id, count(DISTINCT (f.answer_id, f.user_id)) AS n
            FROM feedback f
            JOIN answers a ON a.id = f.answer_id
            CROSS JOIN LATERAL jsonb_array_elements(a.citations) AS c(value)
            WHERE f.vote < 0 AND coalesce(f.updated_at, f.created_at) >= :since
              AND jsonb_typeof(c.value->'document_pk') = 'number'
            GROUP BY 1
            """
        ),
        {"since": since},
    )
    return {r.document_id: r.n for r in rows}


def list_stale(session: Session, *, limit: int = 50) -> list[StaleDocument]:
    """Stale documents, longest-stale first (the operator list and `supportbot stale --list`).

    Tombstoned documents are left out: they were reported once and there is nothing to review."""
    rows = session.execute(
        select(Document, Source.name)
        .join(Source, Source.id == Document.source_id)
        .where(Document.stale_reason.is_not(None), Document.deleted_at.is_(None))
        .order_by(Document.stale_since.asc().nulls_last(), Document.id)
        .limit(limit)
    )
    return [_stale_document(doc, name) for doc, name in rows]


def unreported(session: Session, *, limit: int = 50) -> list[StaleDocument]:
    """Stale documents the operator channel has not been told about yet, oldest first."""
    rows = session.execute(
        select(Document, Source.name)
        .join(Source, Source.id == Document.source_id)
        .where(Document.stale_reason.is_not(None), Document.stale_reported_at.is_(None))
        .order_by(Document.stale_since.asc().nulls_last(), Document.id)
        .limit(limit)
    )
    return [_stale_document(doc, name) for doc, name in rows]


def mark_reported(session: Session, document_ids: list[int], *, now: datetime) -> None:
    if document_ids:
        session.execute(update(Document).where(Document.id.in_(document_ids)).values(stale_reported_at=now))


def find_document(session: Session, document_key: int | str) -> Document:
    """By documents.id, `source:external_id`, or an external id unique across sources."""
    key = str(document_key).strip()
    if key.isdigit() and (doc := session.get(Document, int(key))) is not None:
        return doc
    query = select(Document).where(Document.external_id == key)
    source, sep, external = key.partition(":")
    if sep:
        query = select(Document).join(Source).where(
            or_(Document.external_id == key, (Source.name == source) & (Document.external_id == external))
        )
    matches = session.scalars(query.limit(2)).all()
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise NotFoundError(f"{key!r} names documents in several sources; use SOURCE:ID or the number from `stale --list`.")
    raise NotFoundError(f"No document {key!r}. See `supportbot stale --list` for document ids.")


def verify_document(session: Session, document_key: int | str, *, by: str | None, now: datetime) -> StaleDocument:
    """Mark verified: a person checked the article; its review clock restarts now.

    Only the review-age reason goes away (a dead link or 👎 still hold until fixed), which the
    next scan works out; a document with no other reason is cleared right away so answers stop
    carrying the badge. Returns the document as it stands afterwards (`reason` empty when fresh).
    """
    doc = find_document(session, document_key)
    doc.verified_at, doc.verified_by = now, by
    if doc.deleted_at is None and doc.stale_reason is not None:
        rest = [r for r in doc.stale_reason.split("; ") if not r.startswith("not reviewed for ")]
        doc.stale_reason = "; ".join(rest) or None
        if doc.stale_reason is None:
            doc.stale_since = doc.stale_reported_at = None
    session.flush()
    return _stale_document(doc, doc.source.name)
