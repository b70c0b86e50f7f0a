"""Operator commands for scheduled work: scheduler, stale, verify, jobs list|history|run."""

from __future__ import annotations

import signal
from datetime import datetime, timezone
from typing import Optional

import typer
from rich.table import Table

from bot.logs import configure as configure_logging
from bot.cli.common import cli_user, console, fail, print_json, services
from jobs.scheduler import REFRESH_FULL, scheduled_jobs
from jobs.tasks import JOBS, REFRESH, run_job
from knowledge.runs import is_running, recent_runs
from knowledge.stale import StaleDocument, list_stale, verify_document

jobs_app = typer.Typer(help="Scheduled jobs: what is scheduled, what ran, run one now.", no_args_is_help=True)


def _stale_json(d: StaleDocument) -> dict:
    return {
        "document_id": d.document_id, "external_id": d.external_id, "source": d.source, "title": d.title,
        "url": d.url, "reason": d.reason, "owner": d.owner, "since": d.since, "reported_at": d.reported_at,
    }


def print_stale(docs: list[StaleDocument]) -> None:
    if not docs:
        console.print("No stale documents.")
        return
    table = Table("id", "source", "title", "reason", "owner", "since")
    for d in docs:
        table.add_row(str(d.document_id), d.source, d.title, d.reason, d.owner or "", f"{d.since:%Y-%m-%d}" if d.since else "")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")

    @app.command()
    def scheduler(ctx: typer.Context) -> None:
        """Run the job scheduler in the foreground (replicas elect one leader; SIGTERM stops it).

        Start it on several hosts if you like: the others stand by and take over when the leader stops."""
        svc = services(ctx)
        configure_logging(level=svc.settings.log_level, fmt=svc.settings.log_format)
        leader = svc.scheduler()
        # The handler only sets a flag: the loop steps down, waits for running jobs and releases the lock.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: leader.shutdown(wait=False))
        console.print(f"Scheduler running against {svc.database_location}; Ctrl-C or SIGTERM stops it.")
        leader.run()
        console.print("Scheduler stopped.")

    @app.command()
    def stale(
        ctx: typer.Context,
        list_: bool = typer.Option(False, "--list", help="List stale documents (the default)."),
        scan: bool = typer.Option(False, "--scan", help="Run the stale scan now (and post notices if configured)."),
        limit: int = typer.Option(50, help="At most this many documents."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Stale documents: list them, or scan now."""
        svc = services(ctx)
        if scan:
            counts = run_job(svc.job_context, "stale_scan", trigger="cli", who=cli_user())
            if not as_json:
                console.print(f"Scan done: {counts['newly_stale']} newly stale, {counts['reported']} reported to Slack.")
        if list_ or not scan or as_json:
            with svc.sessions() as session:
                docs = list_stale(session, limit=limit)
            print_json([_stale_json(d) for d in docs]) if as_json else print_stale(docs)

    @app.command()
    def verify(
        ctx: typer.Context,
        document: str = typer.Argument(..., metavar="DOC_ID", help="The id from `stale --list`, or SOURCE:EXTERNAL_ID."),
        by: Optional[str] = typer.Option(None, help="Who verified it (default: your user name)."),
    ) -> None:
        """Mark a document verified: its review clock restarts today."""
        svc = services(ctx)
        with svc.sessions.begin() as session:
            doc = verify_document(session, document, by=by or cli_user(), now=datetime.now(timezone.utc))
        still = f" It is still stale: {doc.reason}." if doc.reason else ""
        console.print(f"Marked {doc.title!r} ({doc.source}) verified.{still}", highlight=False)

    @jobs_app.command("list")
    def jobs_list(ctx: typer.Context, as_json: bool = typer.Option(False, "--json")) -> None:
        """Scheduled jobs with their next run (as stored by the scheduler leader)."""
        svc = services(ctx)
        rows = scheduled_jobs(svc.engine)
        data = [
            {"id": j.id, "trigger": j.trigger, "next_run": j.next_run, "misfire_grace_seconds": j.misfire_grace_time,
             "running": _running(svc.sessions, j.id)}
            for j in rows
        ]
        if as_json:
            print_json(data)
            return
        if not data:
            console.print("Nothing scheduled yet: the schedule is written when a scheduler first becomes leader.")
            return
        table = Table("job", "trigger", "next run", "running")
        for d in data:
            table.add_row(d["id"], d["trigger"], f"{d['next_run']:%Y-%m-%d %H:%M %Z}" if d["next_run"] else "paused", "yes" if d["running"] else "")
        console.print(table)

    @jobs_app.command("history")
    def jobs_history(
        ctx: typer.Context,
        job: Optional[str] = typer.Option(None, "--job", help="Only this job (refresh, stale_scan, digest…)."),
        limit: int = typer.Option(20, help="How many runs."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Recent job runs: trigger, who, status, counts, error."""
        svc = services(ctx)
        with svc.sessions() as session:
            rows = recent_runs(session, job=job, limit=limit)
        data = [
            {"id": r.id, "job": r.job, "key": r.key, "trigger": r.trigger, "who": r.who, "status": r.status,
             "started_at": r.started_at, "finished_at": r.finished_at, "counts": r.counts, "error": r.error}
            for r in rows
        ]
        if as_json:
            print_json(data)
            return
        table = Table("id", "job", "trigger", "who", "status", "started", "counts / error")
        for r in rows:
            colour = {"succeeded": "green", "running": "cyan"}.get(r.status, "red")
            detail = r.error or ", ".join(f"{k}={v}" for k, v in (r.counts or {}).items())
            name = f"{r.job} {r.key}".strip()
            table.add_row(str(r.id), name, r.trigger, r.who or "", f"[{colour}]{r.status}[/]", f"{r.started_at:%Y-%m-%d %H:%M}", detail)
        console.print(table)

    @jobs_app.command("run")
    def jobs_run(
        ctx: typer.Context,
        name: str = typer.Argument(..., help=f"One of: {', '.join(JOBS)}."),
        source: Optional[str] = typer.Argument(None, help="refresh: the source (default: all)."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Run a job now, recorded as triggered from the CLI; refused if it is already running."""
        if name not in JOBS:
            fail(f"No job named {name!r}; jobs: {', '.join(JOBS)}.")
        svc = services(ctx)
        counts = run_job(svc.job_context, name, source, trigger="cli", who=cli_user())
        if as_json:
            print_json(counts)
        else:
            console.print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in counts.items()), highlight=False)
        if name == "refresh" and any(status not in ("succeeded", "partial") for status in counts.values()):
            raise SystemExit(1)


def _running(sessions, job_id: str) -> bool:  # noqa: ANN001 - sessionmaker
    """Scheduler job ids are `refresh:<source>`, `refresh_full:<source>` or the job name."""
    name, _, key = job_id.partition(":")
    return is_running(sessions, REFRESH if name == REFRESH_FULL else name, key=key)
