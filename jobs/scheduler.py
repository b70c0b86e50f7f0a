"""APScheduler 3 set up for this app: jobs persisted in PostgreSQL, run with a `JobContext`.

Choices, on purpose:
- `SQLAlchemyJobStore` on the application database (table `apscheduler_jobs`, created and owned
  by APScheduler, outside Alembic): schedules and their next run times survive restarts and
  leader changes, so a restart neither skips nor repeats a run.
- `coalesce=True`: after downtime, a backlog of missed runs becomes one run — syncing or scanning
  five times in a row achieves nothing more than once.
- `max_instances=1` per job in this process; across processes and triggers the per-job advisory
  lock of `exclusive_run` refuses overlaps ("already running").
- `misfire_grace_time` per job: a refresh that is late by less than its own interval (leader
  failover, restart, busy pool) still runs — later than that the next regular run is as close as
  the missed one (a scheduled complete refresh: half its interval). Stale scan and digest get
  `NOTICE_GRACE` (6 h): a notice should arrive on the working day it was meant for; a later run
  waits for the next slot and loses nothing, because the scan re-evaluates everything and the
  digest starts from the last digest that was posted.

Stored jobs are pickled, so they hold data only — `jobs.tasks:scheduled` with the job's name and
source; `ContextExecutor` runs them through `jobs.tasks.run_job` with the context (database,
embedder, notices), the same entry point the CLI and the Slack operator command use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from jobs.leader import LeaderScheduler
from jobs.tasks import DIGEST, HOUSEKEEPING, REFRESH, STALE_SCAN, JobContext, run_job, scheduled
from knowledge.errors import AlreadyRunningError, ConfigurationError
from knowledge.models import Source
from knowledge.sources.policy import full_refresh_hours, refresh_minutes

log = logging.getLogger(__name__)

JOBSTORE_TABLE = "apscheduler_jobs"
REFRESH_FULL = "refresh_full"  # job id prefix only: it runs the refresh job with full=True
NOTICE_GRACE = 6 * 3600
HOUSEKEEPING_CRON = "30 3 * * *"  # daily, at a quiet hour
DEFAULT_GRACE = 3600


@dataclass(frozen=True)
class ScheduleConfig:
    refresh_minutes: int = 60
    stale_scan_cron: str = "0 7 * * *"  # daily
    digest_cron: str = "0 8 * * mon"  # weekly
    timezone: str = "UTC"
    workers: int = 4


@dataclass(frozen=True)
class JobSpec:
    id: str
    args: tuple[Any, ...]  # (job name, source): stored as data, dispatched by `run_job`
    trigger: Any
    misfire_grace_time: int


def cron(expression: str, timezone: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(expression, timezone=timezone)
    except ValueError as exc:
        raise ConfigurationError(f"Invalid cron expression {expression!r}: {exc}") from exc


def desired_jobs(sources: Iterable[tuple[str, Mapping[str, Any]]], config: ScheduleConfig) -> list[JobSpec]:
    """One refresh per source (its own interval; plus a complete one if the source asks for it),
    one daily stale scan, one weekly digest."""
    specs = []
    for name, options in sources:
        try:
            minutes = refresh_minutes(options, default=config.refresh_minutes)
        except ConfigurationError as exc:
            log.warning("source %s: %s; refreshing every %d minutes", name, exc, config.refresh_minutes)
            minutes = config.refresh_minutes
        specs.append(JobSpec(
            f"{REFRESH}:{name}", (REFRESH, name),
            IntervalTrigger(minutes=minutes, timezone=config.timezone), minutes * 60,
        ))
        hours = _full_hours(name, options)
        if hours:  # same (refresh, source) lock as the regular refresh: the two never overlap
            specs.append(JobSpec(
                f"{REFRESH_FULL}:{name}", (REFRESH, name, True),
                IntervalTrigger(hours=hours, timezone=config.timezone), hours * 3600 // 2,
            ))
    specs.append(JobSpec(STALE_SCAN, (STALE_SCAN,), cron(config.stale_scan_cron, config.timezone), NOTICE_GRACE))
    specs.append(JobSpec(DIGEST, (DIGEST,), cron(config.digest_cron, config.timezone), NOTICE_GRACE))
    specs.append(JobSpec(HOUSEKEEPING, (HOUSEKEEPING,), cron(HOUSEKEEPING_CRON, config.timezone), NOTICE_GRACE))
    return specs


def _full_hours(name: str, options: Mapping[str, Any]) -> int | None:
    try:
        return full_refresh_hours(options)
    except ConfigurationError as exc:
        log.warning("source %s: %s; no scheduled complete refresh", name, exc)
        return None


class _Bound:
    """What APScheduler's `run_job` reads of a Job, calling our `run_job` with the context instead."""

    def __init__(self, job: Any, ctx: JobContext, guard: Callable[[], bool]) -> None:
        self.id, self._jobstore_alias, self.misfire_grace_time = job.id, job._jobstore_alias, job.misfire_grace_time
        self.args, self.kwargs, self._name = tuple(job.args), {}, str(job)
        self._ctx, self._guard = ctx, guard

    def func(self, name: str, key: str | None = None, full: bool = False) -> Any:
        # Checked at the last moment: a replica that lost its lock a second ago must not run jobs
        # the new leader is about to run.
        if not self._guard():
            log.warning("not running %s: this process is no longer the scheduler leader", self._name)
            return None
        try:
            return run_job(self._ctx, name, key, trigger="schedule", full=full)
        except AlreadyRunningError as exc:  # an operator got there first: normal, not an error
            log.info("skipped %s: %s", self._name, exc)
            return None

    def __str__(self) -> str:
        return self._name


class ContextExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool, running stored jobs as `run_job(ctx, name, source)`.

    Overrides `_do_submit_job`, APScheduler 3's documented hook for custom executors."""

    def __init__(self, ctx: JobContext, *, guard: Callable[[], bool], max_workers: int) -> None:
        super().__init__(max_workers)
        self._ctx, self._guard = ctx, guard

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        super()._do_submit_job(_Bound(job, self._ctx, self._guard), run_times)


def build_scheduler(
    engine: Engine, ctx: JobContext, *, config: ScheduleConfig, guard: Callable[[], bool] = lambda: True
) -> BackgroundScheduler:
    return BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)},
        executors={"default": ContextExecutor(ctx, guard=guard, max_workers=config.workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": DEFAULT_GRACE},
        timezone=config.timezone,
    )


def _same_trigger(a: Any, b: Any) -> bool:
    if type(a) is not type(b) or str(a.timezone) != str(b.timezone):
        return False
    if isinstance(a, IntervalTrigger):
        return a.interval == b.interval  # not start_date: it is "now" for a freshly built trigger
    return str(a) == str(b)


def reconcile(scheduler: BackgroundScheduler, specs: list[JobSpec]) -> None:
    """Make the stored jobs match `specs`, keeping the stored next run time of unchanged jobs
    (re-adding them would push every schedule forward on each restart).

    Call it on a started (possibly paused) scheduler: before `start`, `get_jobs` sees only
    pending jobs, not the ones in the store."""
    stored = {job.id: job for job in scheduler.get_jobs()}
    for spec in specs:
        job = stored.pop(spec.id, None)
        if job is None:
            log.info("scheduling %s (%s)", spec.id, spec.trigger)
            scheduler.add_job(
                scheduled, trigger=spec.trigger, args=spec.args, id=spec.id, name=spec.id,
                misfire_grace_time=spec.misfire_grace_time, replace_existing=True,
            )
            continue
        if job.misfire_grace_time != spec.misfire_grace_time or tuple(job.args) != spec.args:
            scheduler.modify_job(spec.id, func=scheduled, args=spec.args, misfire_grace_time=spec.misfire_grace_time)
        if not _same_trigger(job.trigger, spec.trigger):
            log.info("rescheduling %s: %s", spec.id, spec.trigger)
            scheduler.reschedule_job(spec.id, trigger=spec.trigger)
    for job_id in stored:  # e.g. the refresh of a source that was removed
        log.info("unscheduling %s", job_id)
        scheduler.remove_job(job_id)


def schedule_all(scheduler: BackgroundScheduler, *, sessions: sessionmaker[Session], config: ScheduleConfig) -> None:
    """Reconcile the stored jobs with the sources as they are now (run by the leader every few polls)."""
    with sessions() as session:
        sources = [(s.name, dict(s.options or {})) for s in session.scalars(select(Source).order_by(Source.name))]
    reconcile(scheduler, desired_jobs(sources, config))


def leader_scheduler(
    engine: Engine, sessions: sessionmaker[Session], ctx: JobContext, *, config: ScheduleConfig, poll_seconds: float
) -> LeaderScheduler:
    """The scheduler every replica runs; only the elected one actually schedules."""
    return LeaderScheduler(
        engine,
        build=lambda guard: build_scheduler(engine, ctx, config=config, guard=guard),
        prepare=lambda scheduler: schedule_all(scheduler, sessions=sessions, config=config),
        poll_seconds=poll_seconds,
    )


@dataclass
class ScheduledJob:
    id: str
    trigger: str
    next_run: datetime | None
    misfire_grace_time: int | None


def scheduled_jobs(engine: Engine) -> list[ScheduledJob]:
    """What the job store holds, read without starting a scheduler (for `supportbot jobs list`)."""
    if not inspect(engine).has_table(JOBSTORE_TABLE):
        return []
    scheduler = BackgroundScheduler()
    store = SQLAlchemyJobStore(engine=engine, tablename=JOBSTORE_TABLE)
    store.start(scheduler, "default")
    return [ScheduledJob(j.id, str(j.trigger), j.next_run_time, j.misfire_grace_time) for j in store.get_all_jobs()]
