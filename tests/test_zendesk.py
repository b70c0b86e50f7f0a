"""The zendesk connector, driven through the real sync pipeline against a fake Help Center API."""

import base64
import json
import logging
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from fakes.http import json_response
from fakes.zendesk_server import OLD, FakeZendesk
from helpers import add_source_row, sync_with
from sqlalchemy import select, text
from typer.testing import CliRunner

from bot.app import Services
from bot.cli import app
from bot.settings import Settings
from knowledge.errors import ConfigurationError
from knowledge.models import Document, SyncRun
from knowledge.sources.http import HttpOptions, retry_after

TOKEN = "zd-SECRET-token-4f9a1c"
SECRETS = {"zendesk_email": "agent@acme.test", "zendesk_api_token": TOKEN}


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def http(sleeps):
    return HttpOptions(timeout=2.0, retries=3, backoff=0.5, max_wait=60.0, sleep=sleeps.append)


@pytest.fixture
def zendesk():
    with FakeZendesk(email=SECRETS["zendesk_email"], api_token=TOKEN, incremental_page_size=2) as server:
        maria = server.add_user("Maria Lopez", "maria@example.com")
        tom = server.add_user("Tom Berg", "tom@example.com")
        scheduling = server.add_category({"en-us": "Scheduling", "de": "Dienstplanung"})
        billing = server.add_category({"en-us": "Billing", "de": "Abrechnung"})
        shifts = server.add_section({"en-us": "Shifts", "de": "Schichten"}, scheduling)
        swaps = server.add_section({"en-us": "Swaps", "de": "Tausch"}, scheduling, parent_section_id=shifts)
        invoices = server.add_section({"en-us": "Invoices", "de": "Rechnungen"}, billing)
        ids = server.ids = {}
        ids["swap"] = server.add_article(
            "Swap a shift", "<h2>Steps</h2><p>Ask a coworker to swap your shift.</p><script>evil()</script>",
            section_id=shifts, author_id=maria, labels=("scheduling", "mobile"))["id"]
        server.add_article("Schicht tauschen", "<p>Bitte eine Kollegin, die Schicht zu tauschen.</p>",
                           section_id=shifts, author_id=maria, locale="de", article_id=ids["swap"])
        ids["open"] = server.add_article("Open shifts", "<p>Open shifts can be claimed by anyone.</p>",
                                         section_id=shifts, author_id=maria)["id"]
        ids["invoice"] = server.add_article("Download an invoice", "<p>Invoices are under Billing › History.</p>",
                                            section_id=invoices, author_id=tom)["id"]
        ids["plans"] = server.add_article("Plans and pricing", "<p>Starter costs four dollars per user.</p>",
                                          section_id=invoices, author_id=tom)["id"]
        ids["approve"] = server.add_article("Approve a swap", "<p>Managers approve swaps within a day.</p>",
                                            section_id=swaps, author_id=maria)["id"]
        ids["draft"] = server.add_article("Autoscheduling", "<p>Beta feature.</p>", section_id=shifts,
                                          author_id=maria, draft=True)["id"]
        ids["agents"] = server.add_article("Escalation guide", "<p>Agents only: escalate to tier 2.</p>",
                                           section_id=shifts, author_id=tom, user_segment_id=360000777)["id"]
        yield server


def add_zendesk(sessions, server, **options):
    add_source_row(sessions, "zd", "zendesk", {"base_url": server.url, "page_size": "2", **options})


def docs(sessions):
    with sessions() as s:
        return {d.external_id: d for d in s.scalars(select(Document))}


def test_full_sync_indexes_published_articles_with_metadata(sessions, embedder, zendesk, http):
    add_zendesk(sessions, zendesk)
    report = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    assert (report.status, report.added, report.failed, report.listing_complete) == ("succeeded", 5, 0, True)
    ids = zendesk.ids
    stored = docs(sessions)
    assert set(stored) == {f"{ids[k]}:en-us" for k in ("swap", "open", "invoice", "plans", "approve")}
    swap = stored[f"{ids['swap']}:en-us"]
    assert swap.title == "Swap a shift"
    assert swap.url == f"https://acme.zendesk.com/hc/en-us/articles/{ids['swap']}-Swap-a-shift"
    assert swap.breadcrumb == "Scheduling › Shifts"
    assert swap.owner == "maria@example.com" and swap.labels == ["scheduling", "mobile"]
    assert swap.locale == "en-us" and swap.updated_at == OLD and swap.source_version == "2026-01-05T09:30:00Z"
    assert (swap.status, swap.internal) == ("published", False)
    assert "## Steps" in swap.body and "evil" not in swap.body
    assert stored[f"{ids['approve']}:en-us"].breadcrumb == "Scheduling › Shifts › Swaps"
    # 7 articles at page[size]=2: four pages, walked with the cursor, users sideloaded, basic auth
    pages = zendesk.calls("/api/v2/help_center/articles.json")
    assert len(pages) == 4 and "page[after]" not in pages[0].query
    assert all(p.query["page[size]"] == "2" and p.query["include"] == "users" for p in pages)
    assert all(p.query["page[after]"] for p in pages[1:])
    expected = base64.b64encode(f"agent@acme.test/token:{TOKEN}".encode()).decode()
    assert all(r.headers["authorization"] == f"Basic {expected}" for r in zendesk.requests)


def test_drafts_and_restricted_articles_only_when_configured(sessions, embedder, zendesk, http):
    add_zendesk(sessions, zendesk, include_drafts="true", include_restricted="yes")
    report = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    assert report.added == 7
    stored = docs(sessions)
    draft, agents = stored[f"{zendesk.ids['draft']}:en-us"], stored[f"{zendesk.ids['agents']}:en-us"]
    assert (draft.status, draft.internal) == ("draft", False)
    assert (agents.status, agents.internal) == ("published", True)


def test_locale_variants_are_separate_documents(sessions, embedder, zendesk, http):
    add_zendesk(sessions, zendesk, locale="en-us,de")
    report = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    assert report.added == 6
    german = docs(sessions)[f"{zendesk.ids['swap']}:de"]
    assert (german.title, german.locale) == ("Schicht tauschen", "de")
    assert german.breadcrumb == "Dienstplanung › Schichten"
    assert "/hc/de/articles/" in german.url
    assert zendesk.calls("/api/v2/help_center/de/articles.json") and zendesk.calls("/api/v2/help_center/de/sections.json")


def test_rate_limits_and_server_errors_are_retried(sessions, embedder, zendesk, http, sleeps):
    zendesk.script(
        "/articles.json",
        json_response({"error": "TooManyRequests"}, 429, {"Retry-After": "7"}),
        (503, {"Content-Type": "text/html"}, "<h1>Service Unavailable</h1>"),
        (502, {}, "Bad gateway"),
    )
    add_zendesk(sessions, zendesk)
    report = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    assert (report.status, report.added) == ("succeeded", 5)
    assert sleeps == [7.0, 1.0, 2.0]  # Retry-After, then exponential backoff


def test_retry_after_as_http_date_and_capped(zendesk, sessions, embedder, sleeps):
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=5), usegmt=True)
    zendesk.script(
        "/categories.json",
        json_response({"error": "TooManyRequests"}, 429, {"Retry-After": soon}),
        json_response({"error": "TooManyRequests"}, 429, {"Retry-After": "3600"}),
    )
    add_zendesk(sessions, zendesk)
    http = HttpOptions(timeout=2.0, retries=2, max_wait=30.0, sleep=sleeps.append)
    assert sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http).status == "succeeded"
    assert 3.0 < sleeps[0] <= 5.0 and sleeps[1] == 30.0
    assert retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now=datetime(2026, 10, 21, 7, 27, 30, tzinfo=timezone.utc)) == 30.0
    assert retry_after("soon") is None


def test_a_request_that_times_out_is_retried(sessions, embedder, zendesk, sleeps):
    zendesk.script("/sections.json", 1.5)  # the first request hangs past the client timeout
    add_zendesk(sessions, zendesk)
    http = HttpOptions(timeout=0.3, retries=2, backoff=0.5, sleep=sleeps.append)
    report = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    assert (report.status, report.added) == ("succeeded", 5)
    assert sleeps == [0.5] and len(zendesk.calls("/sections.json")) == 3  # 2 pages + 1 retry


def test_listing_failing_on_page_3_deletes_nothing(sessions, embedder, zendesk, http, sleeps):
    add_zendesk(sessions, zendesk)
    sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    zendesk.delete_article(zendesk.ids["open"])  # would be tombstoned by a complete listing
    zendesk.broken_pages[3] = (500, {"Content-Type": "text/plain"}, "Internal Server Error")
    report = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http, full=True)
    assert (report.status, report.deleted, report.listing_complete) == ("failed", 0, False)
    assert "HTTP 500" in report.errors[-1]["reason"] and "4 attempt(s)" in report.errors[-1]["reason"]
    assert all(d.deleted_at is None for d in docs(sessions).values())
    with sessions() as s:
        assert s.get(SyncRun, report.run_id).status == "failed"
    assert sleeps == [0.5, 1.0, 2.0]


def test_deleted_article_is_tombstoned_by_the_next_full_sync(sessions, embedder, zendesk, http):
    add_zendesk(sessions, zendesk)
    sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    zendesk.delete_article(zendesk.ids["open"])
    incremental = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    assert (incremental.status, incremental.deleted) == ("succeeded", 0)  # an export of changes never deletes
    assert zendesk.calls("/incremental/articles.json")
    full = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http, full=True)
    assert (full.status, full.deleted, full.unchanged) == ("succeeded", 1, 4)
    assert docs(sessions)[f"{zendesk.ids['open']}:en-us"].deleted_at is not None


def test_unchanged_resync_makes_no_embedding_calls(sessions, embedder, zendesk, http):
    add_zendesk(sessions, zendesk)
    sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    calls = embedder.calls
    again = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    assert (again.status, again.added, again.updated, again.deleted) == ("succeeded", 0, 0, 0)
    full = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http, full=True)
    assert (full.added, full.updated, full.unchanged, full.deleted) == (0, 0, 5, 0)
    assert embedder.calls == calls


def add_clock_in(zendesk, when):
    return zendesk.add_article("Clock in", "<p>Tap Clock in on the home screen.</p>", updated_at=when,
                               section_id=next(iter(zendesk.sections)), author_id=next(iter(zendesk.users)))


def test_incremental_export_picks_up_edits_and_new_articles(sessions, embedder, zendesk, http):
    add_zendesk(sessions, zendesk)
    first = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    now = datetime.now(timezone.utc)
    zendesk.edit_article(zendesk.ids["swap"], body="<p>Swaps now need manager approval.</p>", updated_at=now)
    zendesk.edit_article(zendesk.ids["plans"], label_names=["billing"], updated_at=now + timedelta(seconds=1))
    new = add_clock_in(zendesk, now + timedelta(seconds=2))
    # the export spans every locale; only the default one is indexed, as by the full listing
    zendesk.edit_article(zendesk.ids["swap"], "de", body="<p>Neu.</p>", updated_at=now + timedelta(seconds=3))
    report = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    assert (report.status, report.updated, report.added, report.unchanged) == ("succeeded", 1, 1, 1)
    exports = zendesk.calls("/incremental/articles.json")
    assert len(exports) == 3  # two articles per export page here; the next starts at end_time
    assert int(exports[0].query["start_time"]) <= first.started_at.timestamp() - 240  # overlap
    assert exports[1].query["start_time"] == str(int((now + timedelta(seconds=1)).timestamp()))
    stored = docs(sessions)
    assert "manager approval" in stored[f"{zendesk.ids['swap']}:en-us"].body
    assert stored[f"{zendesk.ids['plans']}:en-us"].labels == ["billing"]  # metadata-only change
    assert f"{new['id']}:en-us" in stored and f"{zendesk.ids['swap']}:de" not in stored


def test_stalled_incremental_export_falls_back_to_a_full_listing(sessions, embedder, zendesk, http, caplog):
    add_zendesk(sessions, zendesk)
    sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    now = datetime.now(timezone.utc)
    zendesk.incremental_page_size = 1  # two changes in the same second fill more than a page
    zendesk.edit_article(zendesk.ids["swap"], body="<p>Swaps now need manager approval.</p>", updated_at=now)
    new = add_clock_in(zendesk, now)
    report = sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http)
    assert (report.status, report.updated, report.added, report.deleted) == ("succeeded", 1, 1, 0)
    assert "stalled" in caplog.text and zendesk.calls("/api/v2/help_center/articles.json")
    assert f"{new['id']}:en-us" in docs(sessions)


def test_oauth_token_is_sent_as_bearer(sessions, embedder, http):
    with FakeZendesk(oauth_token="zd-oauth-SECRET") as server:
        section = server.add_section({"en-us": "General"}, server.add_category({"en-us": "Help"}))
        server.add_article("Hello", "<p>Welcome to the help center.</p>", section_id=section, author_id=1)
        add_zendesk(sessions, server)
        report = sync_with(sessions, "zd", embedder, secrets={"zendesk_oauth_token": "zd-oauth-SECRET"}, http=http)
        assert (report.status, report.added) == ("succeeded", 1)
        assert {r.bearer_token for r in server.requests} == {"zd-oauth-SECRET"}


def test_credentials_never_reach_the_database_or_the_logs(sessions, embedder, zendesk, http, caplog):
    caplog.set_level(logging.DEBUG)
    add_zendesk(sessions, zendesk)
    zendesk.script("/articles.json", (503, {}, "busy"))  # a logged retry
    assert sync_with(sessions, "zd", embedder, secrets=SECRETS, http=http).status == "succeeded"
    wrong = {**SECRETS, "zendesk_api_token": "zd-WRONG-secret-77"}
    refused = sync_with(sessions, "zd", embedder, secrets=wrong, http=http)
    assert refused.status == "failed"
    assert "HTTP 401" in refused.errors[-1]["reason"] and "ZENDESK_API_TOKEN" in refused.errors[-1]["reason"]
    basic = base64.b64encode(f"agent@acme.test/token:{TOKEN}".encode()).decode()
    with sessions() as s:
        stored = json.dumps([list(r) for r in s.execute(text("SELECT name, kind, options FROM sources"))])
        runs = json.dumps([r[0] for r in s.execute(text("SELECT errors FROM sync_runs"))])
    for secret in (TOKEN, "zd-WRONG-secret-77", basic):
        assert secret not in caplog.text and secret not in stored and secret not in runs
    assert "retry 1/3" in caplog.text  # the retry was logged, without its headers


def test_sources_add_refuses_credential_options(database_url, monkeypatch, tmp_path, sessions):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["sources", "add", "zd", "--kind", "zendesk", "-o", "subdomain=acme",
                                      "-o", f"api_token={TOKEN}"])
    assert isinstance(result.exception, ConfigurationError)
    assert "ZENDESK_API_TOKEN" in str(result.exception) and TOKEN not in str(result.exception)
    with sessions() as s:
        assert s.execute(text("SELECT count(*) FROM sources")).scalar_one() == 0


def test_settings_hand_plain_credentials_to_connectors():
    settings = Settings(_env_file=None, zendesk_email="agent@acme.test", zendesk_api_token=TOKEN,
                        intercom_access_token="ic-SECRET", http_timeout=5, sitemap_delay_seconds=0.25)
    services = Services(settings, engine=None, sessions=None, database_url="", database_location="")
    assert services.source_secrets() == {
        "zendesk_email": "agent@acme.test", "zendesk_api_token": TOKEN, "intercom_access_token": "ic-SECRET",
    }
    options = services.http_options()
    assert (options.timeout, options.crawl_delay, options.user_agent.split("/")[0]) == (5.0, 0.25, "supportbot")
    assert TOKEN not in repr(settings)
