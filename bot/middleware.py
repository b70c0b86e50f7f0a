"""Global middleware: each Slack event is handled once, across retries, restarts and replicas."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltRequest, BoltResponse

from knowledge.deliveries import first_delivery

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)


def register(app: App, services: Services) -> None:
    @app.middleware
    def once_per_event(
        req: BoltRequest, body: dict[str, Any], next: Callable[[], BoltResponse]  # noqa: A002 - Bolt's argument name
    ) -> BoltResponse | None:
        # Before any listener, so a duplicate costs one INSERT and never reaches the model.
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            with services.sessions.begin() as session:
                first = first_delivery(session, event_id)
            if not first:
                retry = (req.headers.get("x-slack-retry-num") or ["-"])[0]
                log.info("event %s already handled (delivery retry %s); skipped", event_id, retry)
                return BoltResponse(status=200, body="")
        return next()
