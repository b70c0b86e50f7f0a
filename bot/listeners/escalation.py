""""Talk to a human": the support group is mentioned in the thread and the question marked escalated."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.lazy import later
from bot.render import ESCALATE, escalation_text
from knowledge.feedback import mark_escalated

if TYPE_CHECKING:
    from bot.app import Services

ALREADY = "This question is already with the support team; someone will follow up in the thread."


def register(app: App, services: Services) -> None:
    policy = services.policy

    def escalate(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond) -> None:
        with services.sessions.begin() as session:
            first = mark_escalated(session, int(action["value"]))
        if not first:
            respond(text=ALREADY, response_type="ephemeral", replace_original=False)
            return
        message = body["message"]
        client.chat_postMessage(
            channel=body["channel"]["id"], thread_ts=message.get("thread_ts") or message["ts"],
            text=escalation_text(body["user"]["id"], policy.support_group),
        )

    app.action(ESCALATE)(**later(escalate))
