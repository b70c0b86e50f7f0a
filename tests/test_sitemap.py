"""The sitemap connector, driven through the real sync pipeline against a fake docs site."""

from datetime import datetime, timezone

import pytest
from fakes.docs_site import FakeDocsSite
from helpers import add_source_row, sync_with
from sqlalchemy import select

from knowledge.models import Document
from knowledge.sources.http import HttpOptions

SWAP = """<h1>Swap a shift</h1>
<p>Ask a coworker to swap your shift from the schedule. Open the shift, tap Swap and pick a coworker.</p>
<h2>Manager approval</h2>
<p>Swaps need manager approval within 24 hours. Managers approve or decline from the Requests tab.</p>
<ul><li>Approved swaps update the schedule.</li><li>Declined swaps notify both employees.</li></ul>"""
KIOSK = "<h1>Kiosk mode</h1><p>Turn a shared tablet into a time clock for the whole team.</p>"
PLANS = "<h1>Plans</h1><h2>Starter</h2><p>Starter costs four dollars per user per month.</p>"
GERMAN = "<h1>Schicht tauschen</h1><p>Bitte eine Kollegin, die Schicht mit dir zu tauschen.</p>"
BOILERPLATE = ("cookies", "Pricing", "Start free trial", "All rights reserved", "Privacy policy",
               "trackPageview", "trackLink", "Getting started", "font-family")


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def http(sleeps):
    return HttpOptions(timeout=2.0, retries=1, backoff=0.5, crawl_delay=1.0, sleep=sleeps.append)


def make_site(**kwargs) -> FakeDocsSite:
    site = FakeDocsSite(**kwargs)
    site.add_page("/docs/swap-a-shift", "Swap a shift", SWAP, lastmod="2026-01-05")
    site.add_page("/docs/kiosk", "Kiosk mode", KIOSK, lastmod=None)
    site.add_page("/docs/plans", "Plans", PLANS, lastmod="2026-01-07T10:00:00+00:00")
    site.add_page("/docs/schicht-tauschen", "Schicht tauschen", GERMAN, lang="de", lastmod=None)
    return site


@pytest.fixture
def site():
    with make_site() as server:
        yield server


def add_sitemap(sessions, server, **options):
    add_source_row(sessions, "docs", "sitemap", {"url": server.url + "/sitemap.xml", **options})


def docs(sessions):
    with sessions() as s:
        return {d.external_id: d for d in s.scalars(select(Document))}


def test_pages_from_nested_sitemap_indexes_keep_only_main_content(sessions, embedder, http, sleeps):
    with make_site(layout="nested") as site:
        site.foreign_urls.append("https://elsewhere.example/docs/phishing")
        site.add_page("/docs/unlisted", "Unlisted", "<p>Not in any sitemap.</p>", listed=False)
        add_sitemap(sessions, site)
        report = sync_with(sessions, "docs", embedder, http=http)
        assert (report.status, report.added, report.failed) == ("succeeded", 4, 0)
        stored = docs(sessions)
        assert set(stored) == {site.url + p for p in ("/docs/swap-a-shift", "/docs/kiosk", "/docs/plans", "/docs/schicht-tauschen")}
        swap = stored[site.url + "/docs/swap-a-shift"]
        assert swap.title == "Swap a shift" and swap.url == site.url + "/docs/swap-a-shift"
        assert "## Manager approval" in swap.body and "- Approved swaps update the schedule." in swap.body
        for body in (d.body for d in stored.values()):
            assert not [junk for junk in BOILERPLATE if junk in body], body
        assert swap.updated_at == datetime(2026, 1, 5, tzinfo=timezone.utc) and swap.source_version == "2026-01-05"
        assert swap.meta["etag"] == site.etag("/docs/swap-a-shift") and swap.meta["last_modified"]
        assert stored[site.url + "/docs/schicht-tauschen"].locale == "de"
        assert {r.path for r in site.requests} == {
            "/robots.txt", "/sitemap.xml", "/sitemaps/index-docs.xml", "/sitemaps/docs-1.xml", "/sitemaps/docs-2.xml",
            "/docs/swap-a-shift", "/docs/kiosk", "/docs/plans", "/docs/schicht-tauschen",
        }
        assert all(r.headers["user-agent"].startswith("supportbot/") for r in site.requests)
        # a politeness pause before every page but the first (the fake clock never really sleeps)
        assert len(sleeps) == 3 and all(0.5 < s <= 1.0 for s in sleeps)


def test_include_exclude_patterns_and_page_limit(sessions, embedder, site, http):
    site.add_page("/docs/internal-runbook", "Runbook", "<p>Internal only.</p>")
    add_sitemap(sessions, site, include="/docs/", exclude="/docs/(internal-|schicht)", max_pages="2")
    report = sync_with(sessions, "docs", embedder, http=http)
    assert report.added == 2
    assert set(docs(sessions)) == {site.url + "/docs/swap-a-shift", site.url + "/docs/kiosk"}
    assert not site.calls("/docs/internal-runbook") and not site.calls("/docs/plans")


def test_robots_txt_rules_for_supportbot_are_honoured(sessions, embedder, http, sleeps):
    robots = ("User-agent: *\nDisallow: /\n\n"
              "User-agent: supportbot\nDisallow: /docs/kiosk\nCrawl-delay: 3\n")
    with make_site(robots=robots) as site:
        add_sitemap(sessions, site)
        report = sync_with(sessions, "docs", embedder, http=http)
        assert (report.status, report.added) == ("succeeded", 3)
        assert site.url + "/docs/kiosk" not in docs(sessions) and not site.calls("/docs/kiosk")
        assert len(sleeps) == 2 and all(2.5 < s <= 3.0 for s in sleeps)  # the site's Crawl-delay wins


def test_robots_txt_forbidding_everything_lists_nothing(sessions, embedder, http):
    with make_site(robots="User-agent: *\nDisallow: /\n") as site:
        add_sitemap(sessions, site)
        report = sync_with(sessions, "docs", embedder, http=http)
        assert (report.status, report.added) == ("succeeded", 0)
        assert not [r for r in site.requests if r.path.startswith("/docs/")]


def test_unchanged_pages_cost_nothing_via_lastmod_and_etag(sessions, embedder, site, http):
    add_sitemap(sessions, site)
    sync_with(sessions, "docs", embedder, http=http)
    calls = embedder.calls
    site.clear_requests()
    again = sync_with(sessions, "docs", embedder, http=http)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    assert embedder.calls == calls
    # lastmod unchanged: not requested at all; no lastmod: a conditional GET answered 304
    assert not site.calls("/docs/swap-a-shift") and not site.calls("/docs/plans")
    kiosk = site.calls("/docs/kiosk")
    assert len(kiosk) == 1 and kiosk[0].headers["if-none-match"] == site.etag("/docs/kiosk")
    assert "if-modified-since" in kiosk[0].headers

    site.edit_page("/docs/kiosk", KIOSK.replace("whole team", "whole team, with PIN codes"))
    changed = sync_with(sessions, "docs", embedder, http=http)
    assert (changed.updated, changed.unchanged) == (1, 3)
    kiosk_doc = docs(sessions)[site.url + "/docs/kiosk"]
    assert "PIN codes" in kiosk_doc.body and kiosk_doc.meta["etag"] == site.etag("/docs/kiosk")

    site.clear_requests()
    calls = embedder.calls
    full = sync_with(sessions, "docs", embedder, http=http, full=True)  # refetch everything, unconditionally
    assert (full.updated, full.unchanged) == (0, 4) and embedder.calls == calls
    pages = [r for r in site.requests if r.path.startswith("/docs/")]
    assert len(pages) == 4 and not [r for r in pages if "if-none-match" in r.headers]


def test_a_page_that_times_out_or_fails_is_skipped_not_the_run(sessions, embedder, site, sleeps):
    site.add_page("/docs/manual.pdf", "Manual", "%PDF-1.7", content_type="application/pdf")
    add_sitemap(sessions, site)
    http = HttpOptions(timeout=0.3, retries=1, backoff=0.5, crawl_delay=0.0, sleep=sleeps.append)
    assert sync_with(sessions, "docs", embedder, http=http).added == 4
    site.script("/docs/kiosk", 1.0, 1.0)  # both attempts hang past the timeout
    site.broken["/docs/plans"] = (502, {"Content-Type": "text/html"}, "<h1>Bad gateway</h1>")
    report = sync_with(sessions, "docs", embedder, http=http, full=True)
    assert (report.status, report.unchanged, report.failed, report.deleted) == ("partial", 2, 3, 0)
    reasons = {e["document"].removeprefix(site.url): e["reason"] for e in report.errors}
    assert "timed out" in reasons["/docs/kiosk"] and "HTTP 502" in reasons["/docs/plans"]
    assert "not an HTML page (application/pdf)" in reasons["/docs/manual.pdf"]
    assert all(d.deleted_at is None for d in docs(sessions).values())


def test_a_site_that_is_down_stops_the_run(sessions, embedder, sleeps):
    with FakeDocsSite(layout="flat") as site:
        for n in range(12):
            site.add_page(f"/docs/page-{n}", f"Page {n}", f"<p>Page number {n} of the manual.</p>")
            site.broken[f"/docs/page-{n}"] = (500, {}, "down")
        add_sitemap(sessions, site)
        http = HttpOptions(timeout=1.0, retries=0, crawl_delay=0.0, sleep=sleeps.append)
        report = sync_with(sessions, "docs", embedder, http=http)
        assert report.status == "failed" and report.failed == 9
        assert "10 pages in a row failed" in report.errors[-1]["reason"]
        assert len([r for r in site.requests if r.path.startswith("/docs/")]) == 10  # then it gave up


@pytest.mark.parametrize("breakage", ["child sitemap 500", "not XML", "robots.txt 503"])
def test_an_unreadable_sitemap_fails_the_run_and_deletes_nothing(sessions, embedder, site, http, breakage):
    add_sitemap(sessions, site)
    sync_with(sessions, "docs", embedder, http=http)
    del site.pages["/docs/plans"]  # a deletion a complete listing would apply
    if breakage == "child sitemap 500":
        site.broken["/sitemaps/docs-2.xml"] = (500, {}, "oops")
    elif breakage == "not XML":
        site.broken["/sitemap.xml"] = (200, {"Content-Type": "text/html"}, "<html><body>Maintenance")
    else:
        site.robots = None
        site.script("/robots.txt", (503, {}, "busy"), (503, {}, "busy"))
    report = sync_with(sessions, "docs", embedder, http=http)
    assert (report.status, report.deleted, report.listing_complete) == ("failed", 0, False)
    assert all(d.deleted_at is None for d in docs(sessions).values())


def test_a_removed_page_is_tombstoned(sessions, embedder, site, http):
    add_sitemap(sessions, site)
    sync_with(sessions, "docs", embedder, http=http)
    del site.pages["/docs/plans"]
    report = sync_with(sessions, "docs", embedder, http=http)
    assert (report.status, report.deleted) == ("succeeded", 1)
    assert docs(sessions)[site.url + "/docs/plans"].deleted_at is not None
