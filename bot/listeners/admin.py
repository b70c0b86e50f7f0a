"""`/supportbot-admin reindex [source] | status | stale`, for configured operators only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot import operator
from bot.lazy import later
from bot.render_admin import ADMIN_USAGE, DENIED

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    policy = services.policy

    def admin(command: dict[str, Any], client: WebClient, respond: Respond) -> None:
        user = command["user_id"]
        if not policy.is_operator(client, user):
            respond(text=DENIED, response_type="ephemeral")
            return
        verb, _, arg = command.get("text", "").strip().partition(" ")

        def tell(text: str) -> None:
            respond(text=text, response_type="ephemeral", replace_original=False)

        commands = {
            "reindex": lambda: operator.reindex(services, arg.strip() or None, who=user, tell=tell),
            "status": lambda: respond(text="Knowledge-base status", blocks=operator.status(services), response_type="ephemeral"),
            "stale": lambda: respond(text="Stale documents", blocks=operator.stale(services), response_type="ephemeral"),
        }
        commands.get(verb.lower(), lambda: tell(ADMIN_USAGE))()

    app.command("/supportbot-admin")(**later(admin))
