import threading

import pytest
from helpers import add_folder_source, write_doc
from sqlalchemy import select, text

from knowledge.errors import AlreadyRunningError
from knowledge.models import JobRun
from knowledge.operations import refresh_source, refresh_sources
from knowledge.runs import exclusive_run, is_running
from knowledge.sources import open_source


def opener(row):
    return open_source(row.kind, row.options, secrets={})


def runs(sessions):
    with sessions() as s:
        return s.scalars(select(JobRun).order_by(JobRun.id)).all()


def test_a_second_run_of_the_same_job_and_key_is_refused(sessions):
    with exclusive_run(sessions, "refresh", key="hc", trigger="cli") as run:
        assert is_running(sessions, "refresh", key="hc")
        with pytest.raises(AlreadyRunningError, match="already running"):
            with exclusive_run(sessions, "refresh", key="hc", trigger="operator", who="U1"):
                pass
        with exclusive_run(sessions, "refresh", key="other", trigger="cli"):  # other key: fine
            pass
        run.counts = {"added": 1}
    assert not is_running(sessions, "refresh", key="hc")
    rows = runs(sessions)
    assert [(r.key, r.status) for r in rows] == [("hc", "succeeded"), ("other", "succeeded")]
    assert rows[0].counts == {"added": 1} and rows[0].finished_at is not None


def test_the_lock_holds_across_threads(sessions):
    entered, release = threading.Event(), threading.Event()

    def hold():
        with exclusive_run(sessions, "digest", trigger="schedule"):
            entered.set()
            release.wait(5)

    t = threading.Thread(target=hold)
    t.start()
    entered.wait(5)
    with pytest.raises(AlreadyRunningError):
        with exclusive_run(sessions, "digest", trigger="cli"):
            pass
    release.set()
    t.join()


def test_a_crash_leaves_a_failed_record(sessions):
    with pytest.raises(RuntimeError):
        with exclusive_run(sessions, "stale_scan", trigger="schedule"):
            raise RuntimeError("boom")
    (row,) = runs(sessions)
    assert row.status == "failed" and "boom" in row.error


def test_a_run_left_running_by_a_dead_process_is_closed(sessions):
    with sessions.begin() as s:
        s.add(JobRun(job="refresh", key="hc", trigger="schedule", status="running", counts={}))
    with exclusive_run(sessions, "refresh", key="hc", trigger="cli"):
        pass
    old, new = runs(sessions)
    assert old.status == "failed" and "interrupted" in old.error and new.status == "succeeded"


def test_refresh_records_counts_and_failures(sessions, embedder, tmp_path):
    write_doc(tmp_path / "hc", "a.md", "# A\n\nText.", title="A")
    add_folder_source(sessions, "hc", tmp_path / "hc")
    add_folder_source(sessions, "gone", tmp_path / "missing")
    report = refresh_source(sessions, "hc", embedder=embedder, open_source=opener, trigger="operator", who="U1")
    assert report.added == 1
    outcomes = refresh_sources(sessions, embedder=embedder, open_source=opener, trigger="cli")
    assert [o.source for o in outcomes] == ["gone", "hc"]
    rows = runs(sessions)
    assert rows[0].who == "U1" and rows[0].counts["added"] == 1
    failed = next(r for r in rows if r.key == "gone")
    assert failed.status == "failed" and "does not exist" in failed.error


def test_refresh_all_skips_a_source_already_running(sessions, embedder, tmp_path):
    write_doc(tmp_path / "hc", "a.md", "# A\n\nText.", title="A")
    add_folder_source(sessions, "hc", tmp_path / "hc")
    with exclusive_run(sessions, "refresh", key="hc", trigger="schedule"):
        (outcome,) = refresh_sources(sessions, embedder=embedder, open_source=opener, trigger="operator")
    assert outcome.report is None and "already running" in outcome.skipped


def test_syncs_share_the_write_lock_and_a_reembed_excludes_them(sessions):
    with exclusive_run(sessions, "refresh", key="a", trigger="cli", kb_write="shared"):
        with exclusive_run(sessions, "refresh", key="b", trigger="cli", kb_write="shared"):
            pass  # two sources sync side by side
        with pytest.raises(AlreadyRunningError, match="A sync is running"):
            with exclusive_run(sessions, "reembed", trigger="cli", kb_write="exclusive"):
                pass
    with exclusive_run(sessions, "reembed", trigger="cli", kb_write="exclusive"):
        with pytest.raises(AlreadyRunningError, match="A re-embed is running"):
            with exclusive_run(sessions, "refresh", key="a", trigger="schedule", kb_write="shared"):
                pass


def test_asking_whether_a_job_runs_never_takes_its_lock(sessions):
    assert not is_running(sessions, "refresh", key="hc")
    with exclusive_run(sessions, "refresh", key="hc", trigger="cli"):
        assert is_running(sessions, "refresh", key="hc")
        assert not is_running(sessions, "refresh", key="other")
    with sessions() as s:  # the check itself left no advisory lock behind
        assert not s.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")).scalar()


def test_an_interrupted_sync_run_is_closed_by_the_next_refresh(sessions, embedder, tmp_path):
    from knowledge.models import Source, SyncRun

    write_doc(tmp_path / "hc", "a.md", "# A\n\nText.", title="A")
    add_folder_source(sessions, "hc", tmp_path / "hc")
    with sessions.begin() as s:
        source_id = s.scalar(select(Source.id))
        s.add(SyncRun(source_id=source_id, trigger="schedule", status="running", listing_complete=False, errors=[],
                      added=0, updated=0, unchanged=0, deleted=0, failed=0))
    refresh_source(sessions, "hc", embedder=embedder, open_source=opener, trigger="cli")
    with sessions() as s:
        statuses = [r.status for r in s.scalars(select(SyncRun).order_by(SyncRun.id))]
    assert statuses == ["failed", "succeeded"]
