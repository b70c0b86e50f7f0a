"""One scheduler across replicas, elected through a PostgreSQL advisory lock.

APScheduler 3 must not run in two processes against one job store (both would fire every job).
Every replica runs a `LeaderScheduler`; the one that holds a session-level advisory lock runs
APScheduler, the others poll to take over. The lock lives on a dedicated connection (no pool:
closing it must really close it), so when the leader dies its connection closes and the lock is
released — and TCP keepalives on that connection make the server notice a vanished host within
about a minute instead of hours. The leader checks its connection every poll and steps down as
soon as it is gone; each job additionally checks leadership the moment it starts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

LOCK_NAME = "supportbot:scheduler"
# libpq settings: fail fast on a dead network instead of hanging for the OS default (minutes).
_CONNECT_ARGS = {
    "connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
    "keepalives_count": 3, "tcp_user_timeout": 30_000, "application_name": "supportbot-scheduler",
}
# Server side, per session: the server drops the backend (and the lock) of a vanished leader.
_SESSION_SETUP = "SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3"

Scheduler = Any  # an APScheduler BaseScheduler: start(paused=…), resume(), shutdown(wait=…)


class LeaderScheduler:
    """Runs `build(guard)`'s scheduler while this process holds the lock.

    `prepare(scheduler)` runs after each (paused) start and every `refresh_every` polls while
    leading — it adds the jobs (e.g. one refresh per source, including sources added since).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        build: Callable[[Callable[[], bool]], Scheduler],
        prepare: Callable[[Scheduler], None],
        poll_seconds: float = 15.0,
        refresh_every: int = 4,
        lock_name: str = LOCK_NAME,
    ) -> None:
        self._lock_engine = create_engine(engine.url, poolclass=NullPool, connect_args=_CONNECT_ARGS)
        self._build, self._prepare = build, prepare
        self.poll_seconds, self._refresh_every, self._lock_name = poll_seconds, refresh_every, lock_name
        self._conn: Connection | None = None
        self._conn_guard = threading.Lock()  # the loop and job threads share the lock connection
        self._scheduler: Scheduler | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.backend_pid: int | None = None  # of the lock connection (tests terminate it)

    # --- public ---------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._scheduler is not None

    def start(self) -> LeaderScheduler:
        """In a background thread (inside `supportbot run`)."""
        self._thread = threading.Thread(target=self.run, name="scheduler-leader", daemon=True)
        self._thread.start()
        return self

    def run(self) -> None:
        """In the calling thread until `shutdown` (the `supportbot scheduler` command)."""
        polls = 0
        try:
            while not self._stop.is_set():
                try:
                    polls = self._poll(polls)
                except Exception:  # noqa: BLE001 - a standby that dies silently would never take over
                    log.exception("scheduler election failed; retrying")
                    self._step_down()
                self._stop.wait(self.poll_seconds)
        finally:
            self._step_down(wait=True)
            self._lock_engine.dispose()

    def shutdown(self, wait: bool = True) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=None if wait else 0)

    def holds_lock(self) -> bool:
        """Whether the lock connection is alive (the lock is never released while it is)."""
        with self._conn_guard:
            if self._conn is None:
                return False
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except DBAPIError:
                return False

    # --- internals ------------------------------------------------------------------------------

    def _poll(self, polls: int) -> int:
        if self._scheduler is None:
            self._try_to_lead()
            return 0
        if not self.holds_lock():
            log.warning("scheduler lock lost (its connection closed); stepping down")
            self._step_down()
            return 0
        if (polls + 1) % self._refresh_every == 0:
            self._safely(self._prepare, self._scheduler)
        return polls + 1

    def _may_run_jobs(self) -> bool:
        return self.is_leader and not self._stop.is_set() and self.holds_lock()

    def _connect(self) -> Connection | None:
        with self._conn_guard:
            if self._conn is None:
                try:
                    conn = self._lock_engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                    conn.exec_driver_sql(_SESSION_SETUP)
                    self.backend_pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
                    self._conn = conn
                except DBAPIError as exc:
                    log.warning("scheduler: cannot reach the database (%s); retrying", exc.orig)
            return self._conn

    def _try_to_lead(self) -> None:
        conn = self._connect()
        if conn is None:
            return
        with self._conn_guard:
            try:
                got = conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:name))"), {"name": self._lock_name}).scalar()
            except DBAPIError:
                self._close()
                return
        if not got:
            return
        log.info("this process is now the scheduler leader")
        try:
            scheduler = self._build(self._may_run_jobs)
            # Paused until the jobs are reconciled: stored jobs are visible only once started.
            scheduler.start(paused=True)
            self._scheduler = scheduler
            self._prepare(scheduler)
            scheduler.resume()
        except Exception:
            log.exception("scheduler failed to start; releasing the lock")
            self._step_down()

    def _step_down(self, wait: bool = False) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            try:
                # Running jobs finish on their own (their advisory locks keep them exclusive).
                scheduler.shutdown(wait=wait)
            except Exception:  # noqa: BLE001 - already stopped
                log.debug("scheduler shutdown", exc_info=True)
        with self._conn_guard:
            self._close()  # closing the session releases the lock

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - a dead connection may complain on close
                log.debug("closing the lock connection", exc_info=True)
            self._conn, self.backend_pid = None, None

    @staticmethod
    def _safely(fn: Callable[[Scheduler], None], scheduler: Scheduler) -> None:
        try:
            fn(scheduler)
        except Exception:  # noqa: BLE001 - a failed refresh of the job list must not end leadership
            log.exception("updating the scheduled jobs failed")
