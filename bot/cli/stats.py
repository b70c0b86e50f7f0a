"""`supportbot stats`: the numbers /metrics exposes, for a terminal and a time window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import typer
from rich.table import Table

from bot.cli.common import console, print_json, services
from knowledge.stats import STAGES, Stats, collect


def stats_json(stats: Stats) -> dict:
    return {
        "since": stats.since,
        "answers": stats.answers,
        "generators": stats.generators,
        "tokens": {"prompt": stats.prompt_tokens, "completion": stats.completion_tokens},
        "cost_usd": round(stats.cost_usd, 6),
        "latency_seconds": {s: {"p50": p[0], "p95": p[1]} for s, p in stats.percentiles.items()},
        "syncs": [{"source": src, "status": st, "runs": n} for (src, st), n in sorted(stats.syncs.items())],
        "synced_documents": [{"source": src, "outcome": k, "documents": n} for (src, k), n in sorted(stats.synced_documents.items())],
        "jobs": [{"job": j, "status": st, "runs": n} for (j, st), n in sorted(stats.jobs.items())],
    }


def _ms(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds * 1000:.0f} ms"


def register(app: typer.Typer) -> None:
    @app.command()
    def stats(
        ctx: typer.Context,
        days: int = typer.Option(7, min=1, help="Window in days."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Answers by status, latency per stage, tokens and cost, sync and job outcomes."""
        svc = services(ctx)
        with svc.sessions() as session:
            result = collect(session, since=datetime.now(timezone.utc) - timedelta(days=days))
        if as_json:
            print_json(stats_json(result))
            return
        total = sum(result.answers.values())
        console.print(f"[bold]Last {days} days[/bold]: {total} answers — "
                      + ", ".join(f"{k} {v} ({v / total:.0%})" for k, v in sorted(result.answers.items())) if total
                      else f"[bold]Last {days} days[/bold]: no answers")
        console.print(f"tokens {result.prompt_tokens:,} prompt + {result.completion_tokens:,} completion · "
                      f"estimated cost ${result.cost_usd:.4f}")
        latency = Table("stage", "p50", "p95", title="answer latency")
        for stage in STAGES:
            p50, p95 = result.percentiles.get(stage, (None, None))
            latency.add_row(stage, _ms(p50), _ms(p95))
        console.print(latency)
        syncs = Table("source", "status", "runs", title="syncs")
        for (source, status), n in sorted(result.syncs.items()):
            syncs.add_row(source, status, str(n))
        console.print(syncs)
        jobs = Table("job", "status", "runs", title="jobs")
        for (job, status), n in sorted(result.jobs.items()):
            jobs.add_row(job, status, str(n))
        console.print(jobs)
