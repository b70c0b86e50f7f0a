"""Buttons, the feedback modal and App Home, over signed HTTP."""

from __future__ import annotations

import json

import pytest
from slack_client import new_ts, running_bot
from sqlalchemy import select

from bot.render import ESCALATE, FEEDBACK_MODAL, REASON_BLOCK, REASON_INPUT, SHOW_SOURCES, VOTE_DOWN, VOTE_UP
from knowledge.models import Answer, Feedback


@pytest.fixture
def bot(database_url, embedder, tmp_path):
    with running_bot(database_url, embedder, tmp_path, slack_support_usergroup="S0SUPPORT") as running:
        yield running


def ask(bot) -> tuple[dict, str]:
    """Mention the bot and return its answer message (as Slack stores it) and the answer id."""
    bot.openai.enqueue("Open the shift and tap **Swap** [1].")
    bot.send.mention("How do I swap a shift?", ts=new_ts())
    [call] = bot.slack.wait_for_calls("chat.postMessage", timeout=10)
    message = next(m for m in bot.slack.messages.values() if m.get("blocks") and m["text"] == call.params["text"])
    return message, message["blocks"][-1]["elements"][0]["value"]


def votes(bot) -> list[tuple[str, int, str | None]]:
    with bot.services.sessions() as session:
        return [(f.user_id, f.vote, f.reason) for f in session.scalars(select(Feedback).order_by(Feedback.id))]


def test_votes_one_per_person_changeable_with_an_optional_reason(bot):
    message, answer_id = ask(bot)
    bot.send.click(VOTE_UP, answer_id, message=message, user="U0ANA", response_id="up")
    bot.slack.wait_for_calls("/response/up", timeout=10)
    assert bot.slack.responses("up")[0]["response_type"] == "ephemeral"
    bot.send.click(VOTE_UP, answer_id, message=message, user="U0ANA", response_id="up2")
    bot.slack.wait_for_calls("/response/up2", timeout=10)
    assert votes(bot) == [("U0ANA", 1, None)]

    bot.send.click(VOTE_DOWN, answer_id, message=message, user="U0ANA")
    [opened] = bot.slack.wait_for_calls("views.open", timeout=10)
    view = json.loads(opened.params["view"]) if isinstance(opened.params["view"], str) else opened.params["view"]
    assert view["callback_id"] == FEEDBACK_MODAL and json.loads(view["private_metadata"]) == {"answer_id": int(answer_id)}
    assert votes(bot) == [("U0ANA", -1, None)]  # counted even if the modal is closed

    reason = {REASON_BLOCK: {REASON_INPUT: {"type": "plain_text_input", "value": "The Swap button moved to the menu."}}}
    response = bot.send.submit(view, reason, user="U0ANA")
    assert response.status_code == 200 and response.text == ""  # closes the modal
    bot.send.click(VOTE_UP, answer_id, message=message, user="U0BEN", response_id="ben")
    bot.slack.wait_for_calls("/response/ben", timeout=10)
    bot.settle()
    assert votes(bot) == [("U0ANA", -1, "The Swap button moved to the menu."), ("U0BEN", 1, None)]


def test_changing_a_vote_drops_the_old_reason(bot):
    message, answer_id = ask(bot)
    bot.send.click(VOTE_DOWN, answer_id, message=message, user="U0ANA")
    [opened] = bot.slack.wait_for_calls("views.open", timeout=10)
    bot.send.submit(opened.params["view"], {REASON_BLOCK: {REASON_INPUT: {"value": "outdated"}}}, user="U0ANA")
    bot.send.click(VOTE_UP, answer_id, message=message, user="U0ANA", response_id="again")
    bot.slack.wait_for_calls("/response/again", timeout=10)
    bot.settle()
    assert votes(bot) == [("U0ANA", 1, None)]


def test_talk_to_a_human_mentions_the_support_group_once(bot):
    message, answer_id = ask(bot)
    bot.send.click(ESCALATE, answer_id, message=message, user="U0ANA")
    bot.slack.wait_for_calls("chat.postMessage", count=2, timeout=10)
    note = bot.slack.posted_messages()[-1]
    assert note["thread_ts"] == message["thread_ts"]
    assert note["text"].startswith("<!subteam^S0SUPPORT>") and "<@U0ANA>" in note["text"]
    with bot.services.sessions() as session:
        assert session.get(Answer, int(answer_id)).escalated is True

    bot.send.click(ESCALATE, answer_id, message=message, user="U0BEN", response_id="again")
    bot.slack.wait_for_calls("/response/again", timeout=10)
    assert "already with the support team" in bot.slack.responses("again")[0]["text"]
    assert len(bot.slack.posted_messages()) == 2


def test_show_sources_lists_the_passages_privately(bot):
    message, answer_id = ask(bot)
    bot.send.click(SHOW_SOURCES, answer_id, message=message, response_id="src")
    bot.slack.wait_for_calls("/response/src", timeout=10)
    [reply] = bot.slack.responses("src")
    assert reply["response_type"] == "ephemeral" and reply["replace_original"] is False
    texts = [b["text"]["text"] for b in reply["blocks"]]
    assert texts[1].startswith("*[1] <https://help.example/swap|Swap a shift>*\n>>>")
    assert "Open the shift and tap Swap." in texts[1]


def test_vote_on_a_forgotten_answer_is_a_friendly_message(bot):
    message, _ = ask(bot)
    bot.send.click(VOTE_UP, "999999", message=message, response_id="gone")
    bot.slack.wait_for_calls("/response/gone", timeout=10)
    assert bot.slack.responses("gone")[0]["text"] == ":warning: Answer 999999 is no longer stored, so there is nothing to record or show."


def test_app_home_shows_health_and_last_week(bot):
    message, answer_id = ask(bot)
    bot.send.click(VOTE_UP, answer_id, message=message, response_id="up")
    bot.slack.wait_for_calls("/response/up", timeout=10)
    bot.send.event({"type": "app_home_opened", "user": "U0ANA", "channel": "D0ANA", "tab": "home"})
    bot.slack.wait_for_calls("views.publish", timeout=10)
    view = bot.slack.home_views["U0ANA"]
    text = "\n".join(b["text"]["text"] for b in view["blocks"] if b["type"] == "section")
    assert view["type"] == "home"
    assert "*Knowledge base* — 3 documents, 1 stale" in text and "last sync succeeded" in text
    assert "1 question: 1 answered, 0 refused" in text and "👍 rate: 100%" in text
