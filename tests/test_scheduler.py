import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED
from helpers import add_folder_source, add_source_row, write_doc
from sqlalchemy import select, text, update

from jobs.scheduler import ScheduleConfig, build_scheduler, leader_scheduler, schedule_all, scheduled_jobs
from jobs.tasks import JobContext, run_job
from knowledge.errors import AlreadyRunningError, ConfigurationError, SourceError
from knowledge.models import Document, JobRun, Source
from knowledge.operations import refresh_source
from knowledge.runs import exclusive_run
from knowledge.sources import open_source, validate_options
from knowledge.sources.base import Listing

CONFIG = ScheduleConfig(refresh_minutes=60)


def opener(row):
    return open_source(row.kind, row.options, secrets={})


@pytest.fixture
def ctx(sessions, embedder):
    return JobContext(sessions=sessions, embedder=lambda: embedder, open_source=opener)


def wait_for(predicate, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def stored(scheduler):
    return {j.id: (j.next_run_time, str(j.trigger), j.misfire_grace_time) for j in scheduler.get_jobs()}


def started(engine, sessions, ctx, **kwargs):
    scheduler = build_scheduler(engine, ctx, config=CONFIG, **kwargs)
    scheduler.start(paused=True)
    schedule_all(scheduler, sessions=sessions, config=CONFIG)
    return scheduler


def test_schedules_survive_a_restart_and_follow_the_sources(engine, sessions, ctx, tmp_path):
    add_source_row(sessions, "hc", "folder", {"path": str(tmp_path), "refresh_minutes": "30", "full_refresh_hours": "24"})
    add_source_row(sessions, "other", "folder", {"path": str(tmp_path)})
    first = started(engine, sessions, ctx)
    before = stored(first)
    assert set(before) == {"refresh:hc", "refresh_full:hc", "refresh:other", "stale_scan", "digest", "housekeeping"}
    assert before["refresh:hc"][1:] == ("interval[0:30:00]", 1800)  # grace: one interval
    assert before["refresh_full:hc"][1:] == ("interval[1 day, 0:00:00]", 12 * 3600)
    assert first.get_job("refresh_full:hc").args == ("refresh", "hc", True)
    assert before["refresh:other"][1] == "interval[1:00:00]"
    assert before["stale_scan"][2] == before["digest"][2] == 6 * 3600
    first.shutdown()

    time.sleep(0.05)  # a re-added job would get a later next run time
    second = started(engine, sessions, ctx)
    assert stored(second) == before  # restored from PostgreSQL, not rescheduled

    with sessions.begin() as s:
        s.execute(update(Source).where(Source.name == "hc").values(options={"path": str(tmp_path), "refresh_minutes": "15"}))
        s.delete(s.scalar(select(Source).where(Source.name == "other")))
    schedule_all(second, sessions=sessions, config=CONFIG)
    after = stored(second)
    assert set(after) == {"refresh:hc", "stale_scan", "digest", "housekeeping"} and after["refresh:hc"][1:] == ("interval[0:15:00]", 900)
    assert after["stale_scan"] == before["stale_scan"]
    second.shutdown()
    assert {j.id for j in scheduled_jobs(engine)} == set(after)  # readable without a running scheduler


def _run_now(scheduler, job_id):
    done = threading.Event()
    results = []
    scheduler.add_listener(lambda event: (results.append(event.retval), done.set()), EVENT_JOB_EXECUTED)
    scheduler.modify_job(job_id, next_run_time=datetime.now(timezone.utc))
    scheduler.resume()
    assert done.wait(10), "the job did not run"
    scheduler.shutdown()
    return results[0]


def test_a_due_job_runs_with_the_context_and_is_recorded(engine, sessions, ctx):
    assert _run_now(started(engine, sessions, ctx), "stale_scan") == {"newly_stale": 0, "reported": 0}
    with sessions() as s:
        run = s.scalar(select(JobRun))
    assert (run.job, run.trigger, run.status) == ("stale_scan", "schedule", "succeeded")


def test_a_replica_that_lost_the_lock_runs_nothing(engine, sessions, ctx):
    assert _run_now(started(engine, sessions, ctx, guard=lambda: False), "stale_scan") is None
    with sessions() as s:
        assert s.scalar(select(JobRun)) is None


def test_an_overlapping_trigger_is_refused(engine, sessions, ctx):
    with exclusive_run(sessions, "stale_scan", trigger="cli", who="me"):
        assert _run_now(started(engine, sessions, ctx), "stale_scan") is None  # skipped, logged
        with pytest.raises(AlreadyRunningError, match="already running"):
            run_job(ctx, "stale_scan", trigger="operator", who="U1")
    with sessions() as s:
        assert [(r.trigger, r.status) for r in s.scalars(select(JobRun))] == [("cli", "succeeded")]


def _terminate(engine, pid):
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()


def test_one_leader_among_replicas_and_takeover_when_its_connection_dies(engine, sessions, ctx):
    a = leader_scheduler(engine, sessions, ctx, config=CONFIG, poll_seconds=0.1).start()
    assert wait_for(lambda: a.is_leader)
    b = leader_scheduler(engine, sessions, ctx, config=CONFIG, poll_seconds=0.1).start()
    try:
        time.sleep(0.5)
        assert not b.is_leader  # standing by: it has no scheduler at all
        assert {j.id for j in scheduled_jobs(engine)} == {"stale_scan", "digest", "housekeeping"}

        _terminate(engine, a.backend_pid)  # as if the leader's host vanished
        assert wait_for(lambda: b.is_leader and not a.is_leader)
        time.sleep(0.5)
        assert b.is_leader and not a.is_leader  # a reconnected, found the lock taken, stands by

        b.shutdown()  # a clean stop hands over too
        assert wait_for(lambda: a.is_leader)
    finally:
        a.shutdown()
        b.shutdown()


def test_supportbot_scheduler_process_stops_cleanly_and_hands_over(database_url, engine, sessions, ctx):
    env = os.environ | {"DATABASE_URL": database_url, "SCHEDULER_POLL_SECONDS": "0.2", "EMBEDDER": "local"}
    proc = subprocess.Popen([sys.executable, "-m", "bot", "scheduler"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    standby = leader_scheduler(engine, sessions, ctx, config=CONFIG, poll_seconds=0.1)
    try:
        assert wait_for(lambda: bool(scheduled_jobs(engine)), timeout=20), "the process never became leader"
        standby.start()
        time.sleep(0.5)
        assert not standby.is_leader
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        assert proc.returncode == 0, out
        assert "Scheduler stopped." in out
        assert wait_for(lambda: standby.is_leader)
    finally:
        proc.kill() if proc.poll() is None else None
        standby.shutdown()


class _FailsMidListing:
    def __init__(self, real):
        self.real = real

    def close(self):
        self.real.close()

    def listing(self, *, since=None):
        inner = self.real.listing(since=since)

        def refs():
            it = iter(inner.refs)
            yield next(it)
            raise SourceError("connection reset while listing")

        return Listing(refs(), full=True)

    def fetch(self, ref):
        return self.real.fetch(ref)


def test_a_refresh_that_fails_mid_listing_is_recorded_and_deletes_nothing(sessions, embedder, tmp_path):
    for name in ("a", "b", "c"):
        write_doc(tmp_path / "hc", f"{name}.md", f"# {name}\n\nText {name}.", title=name)
    add_folder_source(sessions, "hc", tmp_path / "hc")
    refresh_source(sessions, "hc", embedder=embedder, open_source=opener, trigger="schedule")
    (tmp_path / "hc" / "c.md").unlink()  # a complete listing would tombstone it

    report = refresh_source(sessions, "hc", embedder=embedder, trigger="schedule",
                            open_source=lambda row: _FailsMidListing(opener(row)))
    assert report.status == "failed" and report.deleted == 0
    with sessions() as s:
        last = s.scalars(select(JobRun).order_by(JobRun.id)).all()[-1]
        assert (last.status, last.trigger) == ("failed", "schedule") and "connection reset" in last.error
        assert s.scalars(select(Document.deleted_at)).all() == [None, None, None]


def test_scheduling_and_stale_options_are_checked_and_kept_from_connectors():
    options = {"subdomain": "acme", "refresh_minutes": "30", "full_refresh_hours": "24", "review_interval": "6m",
               "stale_downvotes": "5", "check_links": "false"}
    validate_options("zendesk", options)  # zendesk rejects options it does not know: these never reach it
    assert open_source("zendesk", options, secrets={}) is not None
    for bad in ({"refresh_minutes": "2"}, {"review_interval": "soon"}, {"check_links": "maybe"}):
        with pytest.raises(ConfigurationError):
            validate_options("zendesk", {"subdomain": "acme", **bad})


def test_housekeeping_forgets_old_slack_event_ids(sessions, ctx):
    from sqlalchemy import func

    from knowledge.deliveries import first_delivery
    from knowledge.models import SlackEvent

    with sessions.begin() as s:
        assert first_delivery(s, "EvOld") and first_delivery(s, "EvNew")
        s.execute(SlackEvent.__table__.update().where(SlackEvent.event_id == "EvOld")
                  .values(received_at=func.now() - timedelta(days=3)))
    assert run_job(ctx, "housekeeping", trigger="cli") == {"slack_events_pruned": 1}
    with sessions() as s:
        assert s.scalars(select(SlackEvent.event_id)).all() == ["EvNew"]
