"""`supportbot run`: the Slack bot (Socket Mode or HTTP) and the job scheduler in one process."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Optional

import typer
from sqlalchemy import text

from bot.app import Services, create_app
from bot.cli.common import console, services
from bot.logs import configure as configure_logging
from bot.metrics import metrics_exposition
from bot.server import serve
from knowledge.deliveries import prune_deliveries

log = logging.getLogger(__name__)


def _healthy(svc: Services) -> bool:
    try:
        with svc.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception:  # any failure means "not ready"; the log says why
        log.warning("health check: database unreachable", exc_info=True)
        return False


def register(app: typer.Typer) -> None:
    @app.command()
    def run(
        ctx: typer.Context,
        host: Optional[str] = typer.Option(None, help="HTTP mode: listen address (default SLACK_HTTP_HOST)."),
        port: Optional[int] = typer.Option(None, help="HTTP mode: port (default SLACK_HTTP_PORT)."),
        scheduler: bool = typer.Option(True, help="Run the scheduled jobs here too (also SCHEDULER_ENABLED)."),
    ) -> None:
        """Run the Slack bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP (/slack/events, /healthz)."""
        svc = services(ctx)
        s = svc.settings
        configure_logging(level=s.log_level, fmt=s.log_format)
        bolt = create_app(svc)
        svc.answerer  # noqa: B018 - load the embedder now rather than on the first question
        with svc.sessions.begin() as session:
            prune_deliveries(session)
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        jobs = svc.start_scheduler() if scheduler and s.scheduler_enabled else None
        where = f"{host or s.slack_http_host}:{port if port is not None else s.slack_http_port}"
        mode = f"Socket Mode, /healthz on {where}" if s.slack_app_token else f"HTTP on {where}"
        console.print(f"supportbot running ({mode}, data: {svc.database_location}); stop with Ctrl-C or SIGTERM")
        try:
            serve(
                bolt, stop=stop, app_token=s.slack_app_token.get_secret_value() if s.slack_app_token else None,
                host=host or s.slack_http_host, port=port if port is not None else s.slack_http_port,
                healthy=lambda: _healthy(svc),
                metrics=(lambda: metrics_exposition(svc.sessions)) if s.metrics_enabled else None,
            )
        finally:
            if jobs is not None:
                jobs.shutdown()
        console.print("stopped")
