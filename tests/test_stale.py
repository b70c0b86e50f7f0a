from datetime import datetime, timedelta, timezone

import pytest
from helpers import add_folder_source, add_source_row, sync, write_doc
from sqlalchemy import select, update

from knowledge.models import Answer, Document, Feedback
from knowledge.retrieval import search
from knowledge.stale import DELETED, StaleRules, list_stale, mark_reported, scan, unreported, verify_document

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
HC = "https://help.example.com/articles"


def days_ago(n: int) -> str:
    return (NOW - timedelta(days=n)).date().isoformat()


def doc(folder, slug, body="Some text.", **front):
    front.setdefault("updated_at", days_ago(10))
    write_doc(folder, f"{slug}.md", f"# {slug}\n\n{body}", id=slug, title=slug, url=f"{HC}/{slug}", **front)


def run_scan(sessions, **rules):
    with sessions.begin() as s:
        return {d.external_id: d.reason for d in scan(s, now=NOW, rules=StaleRules(**rules))}


def reasons(sessions):
    with sessions() as s:
        return {d.external_id: d.stale_reason for d in s.scalars(select(Document))}


def test_review_age_with_front_matter_and_source_overrides(sessions, embedder, tmp_path):
    hc = tmp_path / "hc"
    doc(hc, "fresh")
    doc(hc, "old", updated_at=days_ago(200))
    doc(hc, "old-long-interval", updated_at=days_ago(200), review_interval=365)
    doc(hc, "old-verified", updated_at=days_ago(400), verified_at=days_ago(30))
    doc(hc, "recent-short-interval", updated_at=days_ago(10), review_interval="1w")
    doc(hc, "draft", updated_at=days_ago(900), status="draft")
    add_folder_source(sessions, "hc", hc)
    other = tmp_path / "other"
    write_doc(other, "x.md", "# X\n\nText.", id="strict", title="X", updated_at=days_ago(40))
    add_source_row(sessions, "strict", "folder", {"path": str(other), "review_interval": "30"})
    sync(sessions, "hc", embedder)
    sync(sessions, "strict", embedder)

    newly = run_scan(sessions)
    assert set(newly) == {"old", "recent-short-interval", "strict"}
    assert newly["old"] == "not reviewed for 200 days (review interval 180 days)"
    assert "review interval 7 days" in newly["recent-short-interval"]
    assert "review interval 30 days" in newly["strict"]
    assert run_scan(sessions) == {}  # already stale: not "newly" again
    # A stricter global interval: front matter still wins, drafts never count.
    assert set(run_scan(sessions, review_days=5)) == {"fresh", "old-verified"}
    with sessions() as s:
        since = {d.external_id: d.since for d in list_stale(s)}
    assert since["old"] == NOW


def test_mark_verified_restarts_the_clock(sessions, embedder, tmp_path):
    doc(tmp_path / "hc", "old", updated_at=days_ago(200))
    add_folder_source(sessions, "hc", tmp_path / "hc")
    sync(sessions, "hc", embedder)
    run_scan(sessions)
    with sessions.begin() as s:
        (stale,) = list_stale(s)
        mark_reported(s, [stale.document_id], now=NOW)
        result = verify_document(s, stale.document_id, by="U_OPS", now=NOW)
    assert result.reason == "" and result.title == "old"
    with sessions() as s:
        row = s.scalar(select(Document))
        assert (row.verified_by, row.verified_at, row.stale_reason, row.stale_reported_at) == ("U_OPS", NOW, None, None)
    assert run_scan(sessions) == {}
    with sessions.begin() as s:  # 181 days after verification it is due again, and news again
        assert [d.external_id for d in scan(s, now=NOW + timedelta(days=181), rules=StaleRules())] == ["old"]
        assert [d.external_id for d in unreported(s)] == ["old"]
    with sessions.begin() as s:  # also by source:external id
        assert verify_document(s, "hc:old", by="U2", now=NOW).document_id == stale.document_id


def test_dead_internal_link(sessions, embedder, tmp_path):
    hc = tmp_path / "hc"
    doc(hc, "target")
    doc(hc, "360001-swap-shifts")
    doc(hc, "links", body=(
        f"See [target]({HC}/target/), [slug changed]({HC}/360001-old-title), [category](https://help.example.com/categories/7), "
        f"[elsewhere](https://example.org/articles/gone), [relative](/articles/gone-relative) and <{HC}/gone-too>."
    ))
    add_folder_source(sessions, "hc", hc)
    sync(sessions, "hc", embedder)

    newly = run_scan(sessions)
    assert list(newly) == ["links"]
    assert newly["links"] == "links to a page that no longer exists: https://help.example.com/articles/gone-relative (+1 more)"
    assert run_scan(sessions, check_links=False) == {}
    assert reasons(sessions)["links"] is None  # the rule switched off: no longer stale

    doc(hc, "gone-relative")
    doc(hc, "gone-too")
    sync(sessions, "hc", embedder)
    assert run_scan(sessions) == {} and reasons(sessions)["links"] is None


def _answer_citing(s, document_pk: int) -> int:
    row = Answer(
        question="q", rewritten_query="q", answer_text="a", status="answered", generator="extractive",
        prompt_version="v1", citations=[{"n": 1, "document_id": "x", "document_pk": document_pk, "title": "x"}],
    )
    s.add(row)
    s.flush()
    return row.id


def test_downvotes_on_citing_answers(sessions, embedder, tmp_path):
    doc(tmp_path / "hc", "disliked")
    doc(tmp_path / "hc", "liked")
    add_folder_source(sessions, "hc", tmp_path / "hc")
    sync(sessions, "hc", embedder)
    with sessions.begin() as s:
        ids = {d.external_id: d.id for d in s.scalars(select(Document))}
        a1, a2, a3 = (_answer_citing(s, ids["disliked"]) for _ in range(3))
        good = _answer_citing(s, ids["liked"])
        recent, old = NOW - timedelta(days=3), NOW - timedelta(days=45)
        s.add_all([
            Feedback(answer_id=a1, user_id="U1", vote=-1, created_at=recent, updated_at=recent),
            Feedback(answer_id=a1, user_id="U2", vote=-1, created_at=recent, updated_at=recent),
            Feedback(answer_id=a2, user_id="U1", vote=-1, created_at=old, updated_at=old),  # too old
            Feedback(answer_id=a3, user_id="U3", vote=1, created_at=recent, updated_at=recent),  # 👍
            Feedback(answer_id=good, user_id="U1", vote=1, created_at=recent, updated_at=recent),
        ])
    assert run_scan(sessions) == {}  # 2 recent 👎 < 3
    with sessions.begin() as s:
        s.add(Feedback(answer_id=a3, user_id="U4", vote=-1, created_at=recent, updated_at=recent))
    assert run_scan(sessions) == {"disliked": "3 👎 on answers citing it in the last 30 days"}
    assert run_scan(sessions, downvotes=0) == {}  # rule off


def test_tombstoned_document_is_reported_once(sessions, embedder, tmp_path):
    doc(tmp_path / "hc", "kept")
    doc(tmp_path / "hc", "removed")
    add_folder_source(sessions, "hc", tmp_path / "hc")
    sync(sessions, "hc", embedder)
    (tmp_path / "hc" / "removed.md").unlink()
    assert sync(sessions, "hc", embedder).deleted == 1

    assert run_scan(sessions) == {"removed": DELETED}
    with sessions.begin() as s:
        (pending,) = unreported(s)
        assert pending.reason == DELETED and pending.since is not None
        mark_reported(s, [pending.document_id], now=NOW)
    assert run_scan(sessions) == {}
    with sessions() as s:
        assert unreported(s) == [] and list_stale(s) == []  # gone: nothing to review, out of answers


def test_a_stale_document_ranks_below_an_equal_fresh_one(sessions, embedder, tmp_path):
    body = "Swap a shift with a coworker from the schedule screen."
    doc(tmp_path / "hc", "a-copy", body=body)
    doc(tmp_path / "hc", "b-copy", body=body)
    add_folder_source(sessions, "hc", tmp_path / "hc")
    sync(sessions, "hc", embedder)
    with sessions() as s:
        before = search(s, "swap a shift", embedder=embedder, k=2, max_per_doc=1, stale_factor=0.8)
    top = before[0].external_id
    with sessions.begin() as s:
        s.execute(update(Document).where(Document.external_id == top).values(updated_at=NOW - timedelta(days=400)))
    assert set(run_scan(sessions)) == {top}
    with sessions() as s:
        after = search(s, "swap a shift", embedder=embedder, k=2, max_per_doc=1, stale_factor=0.8)
    assert [h.external_id for h in after][-1] == top
    assert after[-1].meta["stale_reason"].startswith("not reviewed") and after[0].meta == {}
    assert after[-1].score == pytest.approx(before[0].score * 0.8)
