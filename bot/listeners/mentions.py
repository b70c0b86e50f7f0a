"""@mentions in channels and direct messages: answered in the thread, with sources."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.conversation import answer_in_thread
from bot.lazy import ack_now, later
from bot.threads import is_from_person

if TYPE_CHECKING:
    from bot.app import Services


def register(app: App, services: Services) -> None:
    policy = services.policy

    def from_person(event: dict[str, Any]) -> bool:
        return is_from_person(event)

    def direct_from_person(event: dict[str, Any]) -> bool:
        return event.get("channel_type") == "im" and is_from_person(event)

    def answer_mention(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        answer_in_thread(services, policy, client, event, bot_user_id=context.bot_user_id)

    def answer_direct_message(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        answer_in_thread(services, policy, client, event, bot_user_id=context.bot_user_id)

    app.event("app_mention", matchers=[from_person])(**later(answer_mention))
    app.event("message", matchers=[direct_from_person])(**later(answer_direct_message))
    # Everything else (bots, edits, our own replies): acknowledged so Slack doesn't retry, nothing to do.
    app.event("app_mention")(ack_now)
    app.event("message")(ack_now)
