"""knowledge.health, knowledge.feedback and knowledge.deliveries against real Postgres."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from helpers import add_folder_source, sync, write_doc
from sqlalchemy import select, update

from knowledge.deliveries import first_delivery, prune_deliveries
from knowledge.errors import NotFoundError
from knowledge.feedback import answer_passages, mark_escalated, record_reason, record_vote
from knowledge.health import answer_stats, kb_health
from knowledge.models import Answer, Chunk, Document, Feedback, SlackEvent

NOW = datetime.now(timezone.utc)


def add_answer(sessions, status="answered", *, days_ago=0, retrieved=(), citations=()) -> int:
    with sessions.begin() as session:
        row = Answer(question="q", rewritten_query="q", answer_text="a", status=status, generator="model",
                     prompt_version="v1", retrieved=list(retrieved), citations=list(citations),
                     created_at=NOW - timedelta(days=days_ago))
        session.add(row)
        session.flush()
        return row.id


def test_kb_health_counts_live_and_stale_documents_and_the_last_sync(sessions, embedder, tmp_path):
    write_doc(tmp_path, "a.md", "# A\n\nAlpha.", id="a")
    write_doc(tmp_path, "b.md", "# B\n\nBeta.", id="b")
    add_folder_source(sessions, "hc", tmp_path)
    add_folder_source(sessions, "empty", tmp_path / "nothing-here-yet")
    sync(sessions, "hc", embedder)
    (tmp_path / "b.md").unlink()
    write_doc(tmp_path, "c.md", "# C\n\nGamma.", id="c")
    sync(sessions, "hc", embedder)  # b tombstoned, c added
    with sessions.begin() as session:
        session.execute(update(Document).where(Document.external_id == "a").values(stale_reason="old"))
        health = kb_health(session)
    empty, hc = health.sources
    assert (hc.name, hc.documents, hc.stale, hc.last_sync_status) == ("hc", 2, 1, "succeeded")
    assert hc.last_sync_counts == {"added": 1, "updated": 0, "unchanged": 1, "deleted": 1, "failed": 0}
    assert (empty.documents, empty.last_sync_status, empty.last_sync_at) == (0, None, None)
    assert (health.documents, health.stale) == (2, 1)


def test_answer_stats_covers_the_window_only(sessions):
    ids = [add_answer(sessions, s) for s in ("answered", "answered", "refused", "fallback")]
    old = add_answer(sessions, "answered", days_ago=30)
    with sessions.begin() as session:
        record_vote(session, ids[0], "U1", 1)
        record_vote(session, ids[1], "U1", 1)
        record_vote(session, ids[1], "U2", -1)
        record_vote(session, old, "U1", -1)
        mark_escalated(session, ids[2])
        stats = answer_stats(session, days=7)
    assert (stats.total, stats.answered, stats.refused, stats.fallback, stats.escalated) == (4, 2, 1, 1, 1)
    assert (stats.thumbs_up, stats.thumbs_down) == (2, 1) and stats.up_rate == pytest.approx(2 / 3)
    with sessions() as session:
        assert answer_stats(session, days=60).total == 5
        assert answer_stats(session, days=7, now=NOW - timedelta(days=100)).up_rate is None


def test_votes_and_reasons(sessions):
    answer = add_answer(sessions)
    with sessions.begin() as session:
        record_vote(session, answer, "U1", -1)
        record_reason(session, answer, "U1", "  The screenshot is outdated.  ")
        record_vote(session, answer, "U1", -1)  # the same vote again keeps the reason
    with sessions() as session:
        assert session.scalars(select(Feedback.reason)).one() == "The screenshot is outdated."
    with sessions.begin() as session:
        record_vote(session, answer, "U1", 1)
    with sessions() as session:
        row = session.scalars(select(Feedback)).one()
    assert (row.vote, row.reason) == (1, None) and row.updated_at >= row.created_at
    with sessions.begin() as session, pytest.raises(NotFoundError):
        record_vote(session, 424242, "U1", 1)
    with sessions.begin() as session:
        assert mark_escalated(session, answer) is True
        assert mark_escalated(session, answer) is False


def test_feedback_goes_with_its_answer(sessions):
    answer = add_answer(sessions)
    with sessions.begin() as session:
        record_vote(session, answer, "U1", 1)
        session.execute(Answer.__table__.delete().where(Answer.id == answer))
    with sessions() as session:
        assert session.scalars(select(Feedback)).all() == []


def test_answer_passages_follow_the_stored_chunk_ids(sessions, embedder, tmp_path):
    write_doc(tmp_path, "swap.md", "# Swap\n\nTap Swap.", id="swap", title="Swap a shift", url="https://h/swap")
    write_doc(tmp_path, "plans.md", "# Plans\n\nPro costs 8.", id="plans", title="Plans")
    add_folder_source(sessions, "hc", tmp_path)
    sync(sessions, "hc", embedder)
    with sessions() as session:
        chunks = {c.document.external_id: c for c in session.scalars(select(Chunk))}
        swap_pk = chunks["swap"].document_id
        retrieved = [{"chunk_id": chunks["plans"].id, "document_id": "plans", "title": "Plans", "used": True},
                     {"chunk_id": chunks["swap"].id, "document_id": "swap", "title": "Swap a shift", "used": True},
                     {"chunk_id": "gone", "document_id": "old", "title": "Old page", "used": True},
                     {"chunk_id": chunks["plans"].id, "document_id": "plans", "title": "Plans", "used": False}]
    answer = add_answer(sessions, retrieved=retrieved,
                        citations=[{"n": 1, "document_id": "swap", "document_pk": swap_pk, "title": "Swap a shift"}])
    with sessions() as session:
        passages = answer_passages(session, answer)
    assert [(p.n, p.title, p.url) for p in passages] == [
        (1, "Swap a shift", "https://h/swap"), (None, "Plans", None), (None, "Old page", None)]
    assert "Tap Swap." in passages[0].text and passages[2].text is None


def test_first_delivery_wins_once_and_old_ids_are_pruned(sessions):
    with sessions.begin() as session:
        assert first_delivery(session, "Ev1") is True
        assert first_delivery(session, "Ev1") is False
        assert first_delivery(session, "Ev2") is True
        session.execute(update(SlackEvent).where(SlackEvent.event_id == "Ev1")
                        .values(received_at=NOW - timedelta(days=3)))
    with sessions.begin() as session:
        assert prune_deliveries(session) == 1
        assert session.scalars(select(SlackEvent.event_id)).all() == ["Ev2"]
