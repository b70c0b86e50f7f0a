"""What `/supportbot-admin` does, shaped for Slack replies: reindex in the background, status, stale list."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import select

from bot.errors import friendly
from bot.render_admin import health_blocks, reindex_result, reindex_started, stale_blocks, stats_blocks
from knowledge.catalog import get_source
from knowledge.errors import AlreadyRunningError
from knowledge.health import answer_stats, kb_health
from knowledge.models import Source
from knowledge.operations import REFRESH, refresh_sources
from knowledge.runs import is_running
from knowledge.stale import list_stale

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)
STALE_LIMIT = 25


def reindex(services: Services, name: str | None, *, who: str, tell: Callable[[str], None]) -> threading.Thread | None:
    """Refresh one source (or all) in a background thread; `tell` gets the start and the result."""
    with services.sessions() as session:
        names = [get_source(session, name).name] if name else list(session.scalars(select(Source.name)))
    if not names:
        tell("Nothing to reindex: no help-center source is configured.")
        return None
    if all(is_running(services.sessions, REFRESH, key=n) for n in names):
        raise AlreadyRunningError(f"A reindex of {', '.join(names)} is already running; try again when it has finished.")

    def work() -> None:
        try:
            outcomes = refresh_sources(
                services.sessions, name, embedder=services.embedder, open_source=services.open_source,
                trigger="operator", who=who, **services.chunking,
            )
            tell(reindex_result(outcomes))
        except Exception as exc:
            log.error("operator reindex of %s failed", name or "all sources", exc_info=exc)
            tell(f":x: Reindex failed: {friendly(exc)}")

    tell(reindex_started(name))
    thread = threading.Thread(target=work, name=f"reindex-{name or 'all'}", daemon=True)
    thread.start()
    return thread


def status(services: Services) -> list[dict]:
    with services.sessions() as session:
        health, stats = kb_health(session), answer_stats(session, days=7)
    running = [s.name for s in health.sources if is_running(services.sessions, REFRESH, key=s.name)]
    return health_blocks(health, running) + stats_blocks(stats)


def stale(services: Services) -> list[dict]:
    with services.sessions() as session:
        return stale_blocks(list_stale(session, limit=STALE_LIMIT))
