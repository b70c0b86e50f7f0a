from datetime import datetime, timezone

import pytest
from helpers import add_folder_source, sync, write_doc
from sqlalchemy import func, select

from knowledge.errors import SourceError
from knowledge.models import Chunk, Document, SyncRun
from knowledge.retrieval import Filters, search
from knowledge.sources.base import DocumentRef, Listing
from knowledge.sources.folder import FolderSource
from knowledge.sync import sync_source


@pytest.fixture
def help_center(tmp_path):
    folder = tmp_path / "hc"
    write_doc(folder, "swap.md", "# Swap a shift\n\nAsk a coworker to swap your shift from the schedule.",
              id="swap", title="Swap a shift", url="https://help.example/swap", updated_at="2026-01-02",
              owner="maria@example.com", labels=["scheduling"], locale="en")
    write_doc(folder, "billing/plans.md", "# Plans\n\nStarter costs four dollars per user per month.",
              title="Plans and pricing", labels=["billing"])
    write_doc(folder, "draft.md", "# Autoscheduling\n\nAutoscheduling builds the rota for you.",
              id="auto", title="Autoscheduling", status="draft")
    (folder / "shortcuts.html").write_text(
        "---\nid: keys\ntitle: Keyboard shortcuts\n---\n<h1>Keyboard shortcuts</h1><h2>Schedule</h2>"
        "<p>Press <b>N</b> to add a shift.</p><ul><li>P publishes</li></ul><script>evil()</script>",
        encoding="utf-8",
    )
    return folder


def docs(sessions):
    with sessions() as s:
        return {d.external_id: d for d in s.scalars(select(Document))}


def test_folder_sync_stores_documents_with_metadata(sessions, embedder, help_center):
    add_folder_source(sessions, "hc", help_center)
    report = sync(sessions, "hc", embedder)
    assert (report.status, report.added, report.failed) == ("succeeded", 4, 0)
    stored = docs(sessions)
    assert set(stored) == {"swap", "billing/plans.md", "auto", "keys"}
    swap = stored["swap"]
    assert swap.url == "https://help.example/swap"
    assert swap.owner == "maria@example.com" and swap.labels == ["scheduling"] and swap.locale == "en"
    assert swap.updated_at == datetime(2026, 1, 2, tzinfo=timezone.utc)
    # HTML converted to text with its headings kept, scripts dropped
    assert "## Schedule" in stored["keys"].body and "evil" not in stored["keys"].body
    with sessions() as s:
        run = s.get(SyncRun, report.run_id)
        assert (run.status, run.added, run.listing_complete) == ("succeeded", 4, True)
        assert run.finished_at is not None


def test_drafts_are_stored_but_never_retrieved(sessions, embedder, help_center):
    add_folder_source(sessions, "hc", help_center)
    sync(sessions, "hc", embedder)
    with sessions() as s:
        hits = search(s, "autoscheduling builds the shift rota", embedder=embedder, k=10, mode="lexical")
        with_drafts = search(s, "autoscheduling builds the shift rota", embedder=embedder, k=10,
                             mode="lexical", filters=Filters(include_drafts=True))
    assert hits and "auto" not in {h.external_id for h in hits}
    assert with_drafts[0].external_id == "auto"


def test_unchanged_resync_makes_no_embedding_calls(sessions, embedder, help_center):
    add_folder_source(sessions, "hc", help_center)
    sync(sessions, "hc", embedder)
    calls = embedder.calls
    report = sync(sessions, "hc", embedder)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 4)
    assert embedder.calls == calls
    # --full refetches and rehashes everything, still without embedding
    report = sync(sessions, "hc", embedder, full=True)
    assert report.unchanged == 4 and embedder.calls == calls


def test_changed_document_is_rechunked_atomically(sessions, embedder, help_center):
    add_folder_source(sessions, "hc", help_center)
    sync(sessions, "hc", embedder)
    before = embedder.texts_embedded
    write_doc(help_center, "swap.md", "# Swap a shift\n\nSwaps now need manager approval within 24 hours.",
              id="swap", title="Swap a shift")
    report = sync(sessions, "hc", embedder)
    assert (report.updated, report.unchanged) == (1, 3)
    assert embedder.texts_embedded - before == 1
    with sessions() as s:
        doc = s.scalar(select(Document).where(Document.external_id == "swap"))
        texts = [c.content for c in doc.chunks]
    assert texts == ["Swaps now need manager approval within 24 hours."]


def test_metadata_only_change_updates_without_embedding(sessions, embedder, help_center):
    add_folder_source(sessions, "hc", help_center)
    sync(sessions, "hc", embedder)
    calls = embedder.calls
    write_doc(help_center, "swap.md", "# Swap a shift\n\nAsk a coworker to swap your shift from the schedule.",
              id="swap", title="Swap a shift", owner="new.owner@example.com")
    sync(sessions, "hc", embedder)
    assert embedder.calls == calls
    assert docs(sessions)["swap"].owner == "new.owner@example.com"


def test_deleted_file_is_tombstoned_not_removed(sessions, embedder, help_center):
    add_folder_source(sessions, "hc", help_center)
    sync(sessions, "hc", embedder)
    (help_center / "swap.md").unlink()
    report = sync(sessions, "hc", embedder)
    assert report.deleted == 1
    swap = docs(sessions)["swap"]
    assert swap.deleted_at is not None and swap.body  # kept for audit
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Chunk).where(Chunk.document_id == swap.id)) == 0
        hits = search(s, "swap your shift coworker", embedder=embedder, k=10)
    assert "swap" not in {h.external_id for h in hits}
    # it comes back when the file does
    write_doc(help_center, "swap.md", "# Swap a shift\n\nAsk a coworker to swap.", id="swap", title="Swap a shift")
    report = sync(sessions, "hc", embedder)
    assert report.added == 1 and docs(sessions)["swap"].deleted_at is None


class FailingMidway(FolderSource):
    """The real folder connector whose listing breaks after two documents (a flaky share)."""

    def listing(self, *, since=None):
        inner = super().listing(since=since)

        def refs():
            for n, ref in enumerate(inner.refs):
                if n == 2:
                    raise SourceError("listing failed: connection reset")
                yield ref

        return Listing(refs(), full=True)


def test_listing_that_fails_midway_deletes_nothing(sessions, embedder, help_center):
    add_folder_source(sessions, "hc", help_center)
    sync(sessions, "hc", embedder)
    (help_center / "swap.md").unlink()  # would be a deletion if the listing completed
    report = sync_source(sessions, "hc", embedder=embedder, open_source=lambda row: FailingMidway(path=row.options["path"]))
    assert report.status == "failed" and report.deleted == 0 and not report.listing_complete
    assert "connection reset" in report.errors[-1]["reason"]
    assert all(d.deleted_at is None for d in docs(sessions).values())
    with sessions() as s:
        run = s.get(SyncRun, report.run_id)
        assert run.status == "failed" and run.finished_at is not None


def test_incremental_listing_never_deletes(sessions, embedder, help_center):
    add_folder_source(sessions, "hc", help_center)
    sync(sessions, "hc", embedder)

    class OnlyChanged(FolderSource):
        def listing(self, *, since=None):
            return Listing(iter([DocumentRef("swap.md", version="changed")]), full=False)

    report = sync_source(sessions, "hc", embedder=embedder, open_source=lambda row: OnlyChanged(path=row.options["path"]))
    assert report.status == "succeeded" and report.deleted == 0
    assert all(d.deleted_at is None for d in docs(sessions).values())


def test_bad_documents_are_skipped_with_reasons(sessions, embedder, help_center):
    (help_center / "latin1.md").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (help_center / "empty.md").write_text("---\ntitle: Empty\n---\n\n   \n", encoding="utf-8")
    (help_center / "huge.md").write_text("x" * 10_000_000, encoding="utf-8")
    (help_center / "broken.html").write_text("<html><body><div><p>Unclosed <b>tags <h2>Still text", encoding="utf-8")
    (help_center / "badyaml.md").write_text("---\ntitle: [unclosed\n---\nbody", encoding="utf-8")
    write_doc(help_center, "dup.md", "Another file claiming the id swap.", id="swap", title="Dup")
    add_folder_source(sessions, "hc", help_center)
    report = sync(sessions, "hc", embedder)
    reasons = {e["document"]: e["reason"] for e in report.errors}
    assert report.status == "partial"
    assert "UTF-8" in reasons["latin1.md"]
    assert "empty" in reasons["empty.md"]
    assert "too large" in reasons["huge.md"]
    assert "YAML" in reasons["badyaml.md"]
    assert "duplicate" in reasons["swap.md"] or "duplicate" in reasons.get("dup.md", "")
    # broken HTML is tolerated and indexed; the good documents made it too
    stored = docs(sessions)
    assert "Still text" in stored["broken.html"].body
    assert {"swap", "billing/plans.md", "keys"} <= set(stored)
    with sessions() as s:
        assert s.get(SyncRun, report.run_id).failed == report.failed == 5


def test_unreadable_document_is_not_tombstoned(sessions, embedder, help_center):
    add_folder_source(sessions, "hc", help_center)
    sync(sessions, "hc", embedder)
    (help_center / "swap.md").write_bytes(b"---\nid: swap\n---\n\xff\xfe broken")
    report = sync(sessions, "hc", embedder)
    assert report.failed == 1 and report.deleted == 0
    assert docs(sessions)["swap"].deleted_at is None


def test_missing_folder_fails_the_run_cleanly(sessions, embedder, tmp_path):
    add_folder_source(sessions, "gone", tmp_path / "nope")
    report = sync(sessions, "gone", embedder)
    assert report.status == "failed" and "does not exist" in report.errors[0]["reason"]
