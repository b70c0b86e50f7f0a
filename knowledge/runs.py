"""Exclusive, recorded job runs.

A PostgreSQL advisory lock per (job, key) makes "already running" true across threads, processes
and replicas; it lives on a dedicated connection, so a process that dies releases it with its
connection. Every run leaves a `job_runs` row that ends `succeeded` or `failed`; a row left
`running` by a killed process is closed as failed by the next run that gets the lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from knowledge.errors import AlreadyRunningError
from knowledge.models import JobRun

log = logging.getLogger(__name__)


@dataclass
class RunHandle:
    id: int
    job: str
    key: str
    counts: dict[str, Any] = field(default_factory=dict)
    # A body that failed without raising (e.g. a sync whose source was down) says so here.
    failed: str | None = None


def _engine(sessions: sessionmaker[Session]) -> Engine:
    return sessions.kw["bind"]


# Writers of chunks: syncs hold this lock shared (they may run side by side, one per source), a
# re-embed holds it exclusively (it swaps every chunk and the vector index).
KB_WRITE = "kb-write"


@contextmanager
def exclusive_run(
    sessions: sessionmaker[Session], job: str, *, key: str = "", trigger: str, who: str | None = None,
    kb_write: Literal["shared", "exclusive"] | None = None,
) -> Iterator[RunHandle]:
    """Run a job body under the (job, key) lock; raises `AlreadyRunningError` if someone holds it
    (or, with `kb_write`, if the knowledge-base write lock is held in a conflicting mode).

    The body fills `handle.counts` (and `handle.failed`); an exception marks the run failed and propagates.
    """
    lock_conn = _engine(sessions).connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        got = lock_conn.execute(
            text("SELECT pg_try_advisory_lock(hashtext(:job), hashtext(:key))"), {"job": job, "key": key}
        ).scalar()
        if not got:
            what = f"{job} of {key}" if key else job
            raise AlreadyRunningError(f"A {what} is already running; try again when it has finished.")
        if kb_write is not None:
            fn = "pg_try_advisory_lock_shared" if kb_write == "shared" else "pg_try_advisory_lock"
            if not lock_conn.execute(text(f"SELECT {fn}(hashtext(:k), 0)"), {"k": KB_WRITE}).scalar():
                busy = "A re-embed is" if kb_write == "shared" else "A sync is"
                raise AlreadyRunningError(f"{busy} running; try again when it has finished.")
        with sessions.begin() as session:
            # Nobody holds the lock, so any run still marked running was cut short by a dead process.
            session.execute(
                update(JobRun)
                .where(JobRun.job == job, JobRun.key == key, JobRun.status == "running")
                .values(status="failed", finished_at=datetime.now(timezone.utc), error="interrupted (process stopped)")
            )
            row = JobRun(job=job, key=key, trigger=trigger, who=who, status="running", counts={})
            session.add(row)
            session.flush()
            handle = RunHandle(row.id, job, key)
        try:
            yield handle
        except BaseException as exc:
            _finish(sessions, handle, "failed", f"{type(exc).__name__}: {exc}")
            raise
        _finish(sessions, handle, "failed" if handle.failed else "succeeded", handle.failed)
    finally:
        try:
            lock_conn.execute(text("SELECT pg_advisory_unlock_all()"))
        finally:
            lock_conn.close()


def _finish(sessions: sessionmaker[Session], handle: RunHandle, status: str, error: str | None) -> None:
    with sessions.begin() as session:
        session.execute(
            update(JobRun)
            .where(JobRun.id == handle.id)
            .values(status=status, finished_at=datetime.now(timezone.utc), counts=handle.counts, error=error)
        )


def is_running(sessions: sessionmaker[Session], job: str, *, key: str = "") -> bool:
    """Whether someone holds the (job, key) lock right now. Reads pg_locks rather than trying the
    lock, so asking never makes a run that starts at that moment fail with "already running"."""
    with sessions() as session:
        return bool(session.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid = hashtext(:job)::oid AND objid = hashtext(:key)::oid AND objsubid = 2)"
            ),
            {"job": job, "key": key},
        ).scalar())


def recent_runs(session: Session, *, job: str | None = None, limit: int = 20) -> list[JobRun]:
    """Job history, newest first (`supportbot jobs history`, the operator command)."""
    query = select(JobRun).order_by(JobRun.started_at.desc(), JobRun.id.desc()).limit(limit)
    if job:
        query = query.where(JobRun.job == job)
    return list(session.scalars(query))
