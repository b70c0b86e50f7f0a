import json
import time

import pytest
from helpers import write_doc

from bot.app import build_services
from bot.settings import Settings
from knowledge.errors import AlreadyRunningError
from knowledge.db import make_engine, make_sessionmaker
from knowledge.runs import exclusive_run


@pytest.fixture
def hc(cli, tmp_path):
    folder = tmp_path / "hc"
    write_doc(folder, "old.md", "# Old\n\nText.", id="old", title="Old article", updated_at="2024-01-01", owner="maria@example.com")
    write_doc(folder, "new.md", "# New\n\nText.", id="new", title="New article")
    cli("sources", "add", "hc", "--kind", "folder", "--path", str(folder), "-o", "refresh_minutes=30")
    return folder


def history(cli, *args):
    return json.loads(cli("jobs", "history", "--json", *args).stdout)


def test_reindex_is_a_recorded_exclusive_refresh(cli, hc, database_url):
    assert json.loads(cli("reindex", "hc", "--json").stdout)[0]["added"] == 2
    (run,) = history(cli)
    assert (run["job"], run["key"], run["trigger"], run["status"]) == ("refresh", "hc", "cli", "succeeded")
    assert run["who"] and run["counts"]["added"] == 2

    engine = make_engine(database_url)
    try:
        with exclusive_run(make_sessionmaker(engine), "refresh", key="hc", trigger="schedule"):
            busy = cli("reindex", "hc", ok=False)
            assert busy.exit_code == 1 and "already running" in busy.stdout
            refused = cli("jobs", "run", "refresh", "hc", ok=False)
            assert refused.exit_code == 1 and "already running" in refused.stdout
        with exclusive_run(make_sessionmaker(engine), "stale_scan", trigger="schedule"):
            result = cli("stale", "--scan", ok=False)
            assert isinstance(result.exception, AlreadyRunningError)
    finally:
        engine.dispose()


def test_stale_list_scan_and_verify(cli, hc):
    cli("sync", "hc")
    assert json.loads(cli("stale", "--json").stdout) == []
    assert "1 newly stale, 0 reported" in cli("stale", "--scan").stdout
    (doc,) = json.loads(cli("stale", "--list", "--json").stdout)
    assert (doc["title"], doc["owner"]) == ("Old article", "maria@example.com")
    assert doc["reason"].startswith("not reviewed for")

    assert "Marked 'Old article' (hc) verified." in cli("verify", str(doc["document_id"]), "--by", "ops").stdout
    assert json.loads(cli("stale", "--json").stdout) == []
    missing = cli("verify", "nope", ok=False)
    assert missing.exit_code != 0 and "No document 'nope'" in str(missing.exception)

    cli("jobs", "run", "stale_scan")
    runs = history(cli, "--job", "stale_scan")
    assert [(r["trigger"], r["status"]) for r in runs] == [("cli", "succeeded")] * 2


def test_jobs_list_shows_the_stored_schedule(cli, hc, monkeypatch):
    assert json.loads(cli("jobs", "list", "--json").stdout) == []
    monkeypatch.setenv("SCHEDULER_POLL_SECONDS", "0.05")
    svc = build_services(Settings())
    scheduler = svc.start_scheduler()
    try:
        deadline = time.monotonic() + 10
        while not json.loads(cli("jobs", "list", "--json").stdout) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
        svc.engine.dispose()
    jobs = {j["id"]: j for j in json.loads(cli("jobs", "list", "--json").stdout)}
    assert set(jobs) == {"refresh:hc", "stale_scan", "digest", "housekeeping"}
    assert jobs["refresh:hc"]["trigger"] == "interval[0:30:00]" and jobs["refresh:hc"]["running"] is False
    assert "refresh:hc" in cli("jobs", "list").stdout
    assert cli("jobs", "run", "nope", ok=False).exit_code == 1

    monkeypatch.setenv("SCHEDULER_ENABLED", "false")
    disabled = build_services(Settings(), migrate=False)
    assert disabled.start_scheduler() is None
    disabled.engine.dispose()
