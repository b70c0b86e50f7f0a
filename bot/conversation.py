"""A question asked in Slack (mention or DM) answered in its thread."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import render
from bot.policy import Policy
from bot.threads import question_text, thread_history
from knowledge.feedback import mark_escalated
from knowledge.rewrite import Turn

if TYPE_CHECKING:
    from bot.app import Services

log = logging.getLogger(__name__)

WORKING = "eyes"  # reaction shown on the question while the answer is being written
EMPTY_QUESTION = "Hi! Ask me a question about our product and I'll answer from the help center, with sources."
NOT_HERE = "I'm not set up to answer in this conversation. Ask an admin to add it to the bot's channels."


def _react(client: WebClient, channel: str, ts: str, *, add: bool) -> None:
    try:
        (client.reactions_add if add else client.reactions_remove)(channel=channel, timestamp=ts, name=WORKING)
    except SlackApiError as exc:  # progress is cosmetic: never fail an answer over it
        log.debug("reaction %s on %s/%s: %s", "add" if add else "remove", channel, ts, exc.response.get("error"))


def _history(client: WebClient, channel: str, thread_ts: str, ts: str, bot_user_id: str | None) -> list[Turn]:
    try:
        return thread_history(client, channel, thread_ts, before_ts=ts, bot_user_id=bot_user_id)
    except SlackApiError as exc:  # e.g. a missing *:history scope: answer the question on its own
        log.warning("thread history of %s/%s unavailable: %s", channel, thread_ts, exc.response.get("error"))
        return []


def answer_in_thread(services: Services, policy: Policy, client: WebClient, event: dict[str, Any],
                     *, bot_user_id: str | None) -> None:
    channel, ts, user = event["channel"], event["ts"], event.get("user")
    thread_ts = event.get("thread_ts") or ts
    if not policy.answers_in(channel, event.get("channel_type")):
        client.chat_postEphemeral(channel=channel, user=user, text=NOT_HERE)
        return
    question = question_text(event.get("text", ""))
    if not question:
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=EMPTY_QUESTION)
        return
    _react(client, channel, ts, add=True)
    try:
        history = _history(client, channel, thread_ts, ts, bot_user_id) if event.get("thread_ts") else []
        answer = services.answerer.answer(
            question, history=history, filters=policy.filters_for(channel),
            channel=channel, thread_ts=thread_ts, user_id=user,
        )
        for message in render.answer_messages(answer, support_group=policy.support_group):
            client.chat_postMessage(channel=channel, thread_ts=thread_ts, unfurl_links=False, unfurl_media=False, **message)
        if answer.refused and answer.id is not None:
            with services.sessions.begin() as session:
                mark_escalated(session, answer.id)
    finally:
        _react(client, channel, ts, add=False)
