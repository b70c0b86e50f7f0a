"""What people do with an answer after it was given: votes, reasons, escalation, "show sources".

Callers own the transaction (`with sessions.begin() as session:`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from knowledge.errors import NotFoundError
from knowledge.models import Answer, Chunk, Document, Feedback

MAX_REASON_CHARS = 2000


def _require_answer(session: Session, answer_id: int) -> Answer:
    answer = session.get(Answer, answer_id)
    if answer is None:
        raise NotFoundError(f"Answer {answer_id} is no longer stored, so there is nothing to record or show.")
    return answer


def record_vote(session: Session, answer_id: int, user_id: str, vote: int) -> None:
    """One vote per user per answer; voting again replaces it (a changed vote drops the old reason)."""
    if vote not in (1, -1):
        raise ValueError("vote must be +1 or -1")
    _require_answer(session, answer_id)
    stmt = insert(Feedback).values(answer_id=answer_id, user_id=user_id, vote=vote)
    session.execute(
        stmt.on_conflict_do_update(
            constraint="uq_feedback_answer_user",
            set_={
                "vote": stmt.excluded.vote,
                "updated_at": func.now(),
                "reason": case((Feedback.vote == stmt.excluded.vote, Feedback.reason), else_=None),
            },
        )
    )


def record_reason(session: Session, answer_id: int, user_id: str, reason: str | None) -> None:
    """Attach the optional reason of a 👎 (the vote itself was stored when the button was clicked)."""
    text = (reason or "").strip()[:MAX_REASON_CHARS] or None
    _require_answer(session, answer_id)
    stmt = insert(Feedback).values(answer_id=answer_id, user_id=user_id, vote=-1, reason=text)
    session.execute(
        stmt.on_conflict_do_update(
            constraint="uq_feedback_answer_user",
            set_={"vote": -1, "reason": stmt.excluded.reason, "updated_at": func.now()},
        )
    )


def mark_escalated(session: Session, answer_id: int) -> bool:
    """Flag the question for a person. Returns False when it already was."""
    _require_answer(session, answer_id)
    changed = session.execute(
        update(Answer).where(Answer.id == answer_id, Answer.escalated.is_(False)).values(escalated=True)
    )
    return changed.rowcount > 0


@dataclass(frozen=True)
class Passage:
    n: int | None  # the citation number in the answer, None for context that was not cited
    title: str
    url: str | None
    text: str | None  # None when the passage changed since the answer (re-synced)


def answer_passages(session: Session, answer_id: int) -> list[Passage]:
    """The passages an answer was built from (its stored chunk ids), cited documents first."""
    answer = _require_answer(session, answer_id)
    used = [r for r in answer.retrieved if r.get("used")]
    rows = session.execute(
        select(Chunk.id, Chunk.content, Document.id.label("doc_pk"), Document.title, Document.url)
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.id.in_([r["chunk_id"] for r in used]))
    )
    found = {row.id: row for row in rows}
    by_pk = {c.get("document_pk"): c["n"] for c in answer.citations}
    by_external = {c.get("document_id"): c["n"] for c in answer.citations}
    passages = []
    for r in used:
        row = found.get(r["chunk_id"])
        if row is not None:
            passages.append(Passage(by_pk.get(row.doc_pk), row.title, row.url, row.content))
        else:  # re-synced since: the chunk id (a content hash) is gone
            passages.append(Passage(by_external.get(r.get("document_id")), r.get("title", ""), None, None))
    return sorted(passages, key=lambda p: (p.n is None, p.n or 0))
