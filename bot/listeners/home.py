"""App Home: knowledge-base health and last week's answer statistics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.lazy import ack_now, later
from bot.render_admin import home_view
from knowledge.health import answer_stats, kb_health

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    def home_tab(event: dict[str, Any]) -> bool:
        return event.get("tab", "home") == "home"

    def publish_home(event: dict[str, Any], client: WebClient) -> None:
        with services.sessions() as session:
            view = home_view(kb_health(session), answer_stats(session, days=7))
        client.views_publish(user_id=event["user"], view=view)

    app.event("app_home_opened", matchers=[home_tab])(**later(publish_home))
    app.event("app_home_opened")(ack_now)  # the Messages/About tabs: nothing to publish
