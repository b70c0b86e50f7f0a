"""Reading a Slack conversation as the answer pipeline's history."""

from __future__ import annotations

import re
from typing import Any

from slack_sdk import WebClient

from knowledge.rewrite import Turn

MAX_TURNS = 12
_MENTION = re.compile(r"<@[A-Z0-9]+>")


def question_text(text: str) -> str:
    """The question without the bot mention(s) that addressed it."""
    return " ".join(_MENTION.sub(" ", text or "").split())


def is_from_person(event: dict[str, Any]) -> bool:
    """Plain messages written by people: no bots (ours included), no edits, joins or deletions."""
    return not event.get("bot_id") and not event.get("subtype") and bool(event.get("user"))


def thread_history(
    client: WebClient, channel: str, thread_ts: str, *, before_ts: str, bot_user_id: str | None
) -> list[Turn]:
    """Earlier messages of the thread as turns: ours are the assistant's, people's are the user's."""
    replies = client.conversations_replies(channel=channel, ts=thread_ts, limit=100)["messages"]
    turns = []
    for msg in replies:
        if float(msg.get("ts", 0)) >= float(before_ts):
            continue
        if bot_user_id and msg.get("user") == bot_user_id:
            turns.append(Turn("assistant", msg.get("text", "")))
        elif is_from_person(msg) and (text := question_text(msg.get("text", ""))):
            turns.append(Turn("user", text))
    return turns[-MAX_TURNS:]
