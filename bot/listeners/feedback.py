"""👍 / 👎 on an answer (one changeable vote per person); 👎 asks for an optional reason in a modal."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient

from bot.lazy import later
from bot.render import FEEDBACK_MODAL, REASON_BLOCK, REASON_INPUT, VOTE_DOWN, VOTE_UP, feedback_modal
from knowledge.feedback import record_reason, record_vote

if TYPE_CHECKING:
    from bot.app import Services

THANKS = "Thanks for the feedback!"


def register(app: App, services: Services) -> None:
    def vote(body: dict[str, Any], action: dict[str, Any], value: int) -> int:
        answer_id = int(action["value"])
        with services.sessions.begin() as session:
            record_vote(session, answer_id, body["user"]["id"], value)
        return answer_id

    def vote_up(body: dict[str, Any], action: dict[str, Any], respond: Respond) -> None:
        vote(body, action, +1)
        respond(text=THANKS, response_type="ephemeral", replace_original=False)

    def vote_down_now(ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient) -> None:
        # Not on the worker pool: a trigger_id expires ~3 s after the click (the pool may be busy
        # with answers), and a later 👍 must not overtake this vote. Both steps take milliseconds.
        ack()
        answer_id = vote(body, action, -1)
        client.views_open(trigger_id=body["trigger_id"], view=feedback_modal(answer_id))

    def save_reason(body: dict[str, Any], view: dict[str, Any]) -> None:
        answer_id = json.loads(view["private_metadata"])["answer_id"]
        reason = view["state"]["values"].get(REASON_BLOCK, {}).get(REASON_INPUT, {}).get("value")
        with services.sessions.begin() as session:
            record_reason(session, answer_id, body["user"]["id"], reason)

    app.action(VOTE_UP)(**later(vote_up))
    app.action(VOTE_DOWN)(**later(ack=vote_down_now))
    app.view(FEEDBACK_MODAL)(**later(save_reason))
