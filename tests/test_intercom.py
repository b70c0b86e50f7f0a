"""The intercom connector, driven through the real sync pipeline against a fake Intercom API."""

import logging
from datetime import datetime, timezone

import pytest
from fakes.http import json_response
from fakes.intercom_server import OLD, FakeIntercom
from helpers import add_source_row, sync_with
from sqlalchemy import select

from knowledge.models import Document
from knowledge.sources.http import HttpOptions

TOKEN = "ic-SECRET-dG9rOjEyMzQ1"
SECRETS = {"intercom_access_token": TOKEN}


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def http(sleeps):
    return HttpOptions(timeout=2.0, retries=2, backoff=0.5, sleep=sleeps.append)


def build(server: FakeIntercom) -> FakeIntercom:
    scheduling = server.add_collection("Scheduling", translations={"fr": "Planification"})
    shifts = server.add_collection("Shifts", parent_id=scheduling, translations={"fr": "Quarts"})
    billing = server.add_collection("Billing", translations={"fr": "Facturation"})
    a = server.ids = {}
    a["swap"] = server.add_article({
        "en": {"title": "Swap a shift", "body": "<h2>Steps</h2><p>Ask a coworker to swap.</p><script>evil()</script>"},
        "fr": {"title": "Échanger un quart", "body": "<p>Demandez à un collègue.</p>"},
    }, parent_id=shifts)["id"]
    plans = server.add_article({"en": {"title": "Plans and pricing", "body": "<p>Starter costs four dollars.</p>"}},
                               parent_id=billing)
    plans["tags"]["tags"].append({"type": "tag", "id": "17", "name": "billing"})
    a["plans"] = plans["id"]
    a["open"] = server.add_article({
        "en": {"title": "Open shifts", "body": "<p>Anyone can claim an open shift.</p>"},
        "fr": {"title": "Quarts ouverts", "body": "<p>Brouillon.</p>", "state": "draft"},
    }, parent_id=shifts)["id"]
    a["auto"] = server.add_article({"en": {"title": "Autoscheduling", "body": "<p>Beta.</p>", "state": "draft"}},
                                   parent_id=shifts)["id"]
    a["payroll"] = server.add_article({"en": {"title": "Export payroll", "body": "<p>Export a CSV.</p>"}},
                                      parent_id=None)["id"]
    return server


@pytest.fixture
def intercom():
    with FakeIntercom(token=TOKEN) as server:
        yield build(server)


def add_intercom(sessions, server):
    add_source_row(sessions, "ic", "intercom", {"base_url": server.url, "page_size": "2"})


def docs(sessions):
    with sessions() as s:
        return {d.external_id: d for d in s.scalars(select(Document))}


def test_published_translations_become_documents(sessions, embedder, intercom, http):
    add_intercom(sessions, intercom)
    report = sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
    assert (report.status, report.added, report.failed) == ("succeeded", 5, 0)
    a = intercom.ids
    stored = docs(sessions)
    assert set(stored) == {f"{a['swap']}:en", f"{a['swap']}:fr", f"{a['plans']}:en", f"{a['open']}:en", f"{a['payroll']}:en"}
    swap, french = stored[f"{a['swap']}:en"], stored[f"{a['swap']}:fr"]
    assert (swap.title, swap.locale, swap.breadcrumb) == ("Swap a shift", "en", "Scheduling › Shifts")
    assert (french.title, french.locale, french.breadcrumb) == ("Échanger un quart", "fr", "Planification › Quarts")
    assert french.url == f"https://help.acme.test/fr/articles/{a['swap']}-échanger-un-quart"
    assert swap.updated_at == datetime.fromtimestamp(OLD, tz=timezone.utc) and swap.source_version == str(OLD)
    assert swap.owner == "991267407" and "## Steps" in swap.body and "evil" not in swap.body
    assert stored[f"{a['plans']}:en"].labels == ["billing"]
    assert stored[f"{a['payroll']}:en"].breadcrumb is None
    pages = intercom.calls("/articles")
    assert [p.query["page"] for p in pages] == ["1", "2", "3"] and all(p.query["per_page"] == "2" for p in pages)
    assert all(r.headers["intercom-version"] == "2.11" and r.bearer_token == TOKEN for r in intercom.requests)


def test_cursor_style_pagination(sessions, embedder, http):
    with FakeIntercom(token=TOKEN, next_style="object") as server:
        build(server)
        add_intercom(sessions, server)
        report = sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
        assert (report.status, report.added) == ("succeeded", 5)
        later = server.calls("/articles")[1:]
        assert len(later) == 2 and all("starting_after" in p.query and "page" not in p.query for p in later)


def test_rate_limits_and_server_errors_are_retried(sessions, embedder, intercom, http, sleeps):
    intercom.script("/articles", json_response({"type": "error.list", "errors": [{"code": "rate_limit_exceeded"}]},
                                               429, {"Retry-After": "2"}),
                    (500, {}, "oops"))
    add_intercom(sessions, intercom)
    report = sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
    assert (report.status, report.added) == ("succeeded", 5)
    assert sleeps == [2.0, 1.0]


def test_listing_failing_on_page_3_deletes_nothing(sessions, embedder, intercom, http):
    add_intercom(sessions, intercom)
    sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
    del intercom.articles[intercom.ids["open"]]
    intercom.articles[intercom.ids["auto"]]["state"] = "published"  # keeps three pages
    intercom.add_article({"en": {"title": "Kiosk", "body": "<p>Tablet clock.</p>"}}, parent_id=None)
    intercom.broken_pages[3] = (503, {}, "unavailable")
    report = sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
    assert (report.status, report.deleted, report.listing_complete) == ("failed", 0, False)
    assert "HTTP 503" in report.errors[-1]["reason"]
    assert all(d.deleted_at is None for d in docs(sessions).values())


def test_resync_is_free_edits_update_and_deletions_tombstone(sessions, embedder, intercom, http):
    add_intercom(sessions, intercom)
    sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
    calls = embedder.calls
    again = sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
    assert (again.added, again.updated, again.unchanged, again.deleted) == (0, 0, 5, 0)
    assert embedder.calls == calls
    intercom.edit_article(intercom.ids["swap"], "fr", body="<p>Le responsable doit approuver.</p>")
    del intercom.articles[intercom.ids["open"]]
    report = sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
    assert (report.status, report.updated, report.unchanged, report.deleted) == ("succeeded", 1, 3, 1)
    stored = docs(sessions)
    assert "approuver" in stored[f"{intercom.ids['swap']}:fr"].body
    assert stored[f"{intercom.ids['open']}:en"].deleted_at is not None


def test_article_edited_during_the_listing_blocks_deletions(sessions, embedder, intercom, http, caplog):
    add_intercom(sessions, intercom)
    sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
    del intercom.articles[intercom.ids["plans"]]  # a real deletion
    # While page 2 is requested, the oldest article is edited and jumps to page 1: it is never seen.
    intercom.after_page[1] = lambda: intercom.edit_article(intercom.ids["swap"], "en", title="Swap shifts")
    report = sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
    assert (report.status, report.deleted) == ("succeeded", 0)
    assert "no deletions this run" in caplog.text
    assert docs(sessions)[f"{intercom.ids['swap']}:en"].deleted_at is None
    settled = sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
    assert (settled.deleted, settled.updated) == (1, 1)


def test_token_missing_or_refused_fails_clearly_without_leaking(sessions, embedder, intercom, http, caplog):
    caplog.set_level(logging.DEBUG)
    add_intercom(sessions, intercom)
    missing = sync_with(sessions, "ic", embedder, secrets={}, http=http)
    assert missing.status == "failed" and "INTERCOM_ACCESS_TOKEN" in missing.errors[-1]["reason"]
    refused = sync_with(sessions, "ic", embedder, secrets={"intercom_access_token": "ic-WRONG-secret"}, http=http)
    assert refused.status == "failed" and "HTTP 401" in refused.errors[-1]["reason"]
    assert "Read articles" in refused.errors[-1]["reason"]
    ok = sync_with(sessions, "ic", embedder, secrets=SECRETS, http=http)
    assert ok.status == "succeeded"
    assert TOKEN not in caplog.text and "ic-WRONG-secret" not in caplog.text
