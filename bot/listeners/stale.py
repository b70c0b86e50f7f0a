"""The "Mark verified" button of stale notices and digests (operators only, when operators are configured)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from slack_bolt import App, Respond
from slack_sdk import WebClient

from bot.lazy import ack_now, later
from bot.mrkdwn import escape
from bot.notices import OPEN_ACTION, VERIFY_ACTION, mark_verified_in_blocks
from knowledge.stale import verify_document

if TYPE_CHECKING:
    from bot.app import Services

NOT_OPERATOR = ":no_entry: Only the bot's operators can mark articles verified."


def register(app: App, services: Services) -> None:
    policy = services.policy
    # With no operator list the notice channel itself is the gate: whoever can see it may verify.
    restricted = bool(policy.operator_ids or policy.operator_group)

    def verify(body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond) -> None:
        user = body["user"]["id"]
        if restricted and not policy.is_operator(client, user):
            respond(text=NOT_OPERATOR, response_type="ephemeral", replace_original=False)
            return
        with services.sessions.begin() as session:
            doc = verify_document(session, action["value"], by=user, now=services.job_context.clock())
        note = f":white_check_mark: *{escape(doc.title)}* verified by <@{user}>; its review clock restarts today."
        if doc.reason:
            note += f" Still stale: _{escape(doc.reason)}_"
        message = body.get("message") or {}
        if message.get("blocks"):  # everyone in the channel sees it is done, and the button is gone
            blocks = mark_verified_in_blocks(message["blocks"], doc.document_id, note)
            respond(text=message.get("text", note), blocks=blocks, replace_original=True)
        else:
            respond(text=note, response_type="ephemeral", replace_original=False)

    app.action(VERIFY_ACTION)(**later(verify))
    # A link button opens the page in the browser, but Slack still sends the click: acknowledge it.
    app.action(OPEN_ACTION)(ack_now)
