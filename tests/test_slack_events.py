"""Mentions and DMs end to end: signed HTTP requests to the bot's real endpoint, FakeSlack and
FakeOpenAI on loopback, real Postgres."""

from __future__ import annotations

import time

import httpx
import pytest
from fakes.embedder import CountingEmbedder
from fakes.openai_server import Delay, Fault
from slack_client import BOT_ID, BOT_USER, new_ts, running_bot
from sqlalchemy import func, select

from bot.app import create_app
from bot.render import ERROR_TEXT, FALLBACK_NOTE
from bot.server import HttpServer, drain
from knowledge.models import Answer, SlackEvent

ANSWER = "Open the shift and tap **Swap** [1]. A manager approves it within 24 hours [1]."


@pytest.fixture
def bot(database_url, embedder, tmp_path):
    with running_bot(database_url, embedder, tmp_path, slack_support_usergroup="S0SUPPORT") as running:
        yield running


def _texts(message: dict) -> str:
    """Everything a person could read in a posted message."""
    parts = [message.get("text", "")]
    for block in message.get("blocks") or []:
        parts.append((block.get("text") or {}).get("text", ""))
        parts += [e.get("text", "") for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return "\n".join(parts)


def test_mention_gets_one_threaded_answer_with_sources_and_a_fast_ack(bot):
    bot.openai.enqueue(Delay(2, then=ANSWER))  # the model takes 2 s; Slack wants its ack within 3 s
    ts = new_ts()
    started = time.monotonic()
    response = bot.send.mention("How do I swap a shift?", ts=ts)
    assert response.status_code == 200 and time.monotonic() - started < 1.0

    bot.slack.wait_for_calls("chat.postMessage", timeout=10)
    bot.settle()
    [message] = bot.slack.posted_messages()
    assert message["channel"] == "C0HELP" and message["thread_ts"] == ts
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert sections[0] == "Open the shift and tap *Swap* [1]. A manager approves it within 24 hours [1]."
    assert sections[1] == "*[1]* <https://help.example/swap|Swap a shift> · updated 3 days ago"
    actions = message["blocks"][-1]
    assert [e["action_id"] for e in actions["elements"]] == [
        "answer_vote_up", "answer_vote_down", "answer_escalate", "answer_show_sources"]
    assert bot.slack.params_of("reactions.add")[0]["timestamp"] == ts  # progress shown, then removed
    assert bot.slack.reactions[("C0HELP", ts)] == []

    with bot.services.sessions() as session:
        row = session.scalars(select(Answer)).one()
    assert (row.status, row.channel, row.thread_ts, row.escalated) == ("answered", "C0HELP", ts, False)
    assert actions["elements"][0]["value"] == str(row.id)


def test_slack_retries_and_a_restarted_replica_answer_once(bot):
    bot.openai.default_reply = ANSWER
    ts = new_ts()
    for retry in (None, 1, 2, 3):
        assert bot.send.mention("How do I swap a shift?", ts=ts, event_id="Ev0RETRY", retry=retry).status_code == 200
    # A second process on the same database (a restart, or another replica behind the load balancer).
    other = create_app(bot.services)
    server = HttpServer(other, host="127.0.0.1", port=0, healthy=lambda: True).start()
    try:
        bot.send.url = server.url + "/slack/events"
        assert bot.send.mention("How do I swap a shift?", ts=ts, event_id="Ev0RETRY", retry=3).status_code == 200
    finally:
        server.stop()
        drain(other)
    bot.settle()
    assert len(bot.slack.posted_messages()) == 1
    assert len(bot.openai.chat_requests()) == 1
    with bot.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SlackEvent)) == 1


def test_forged_and_old_signatures_are_rejected(bot):
    forged = bot.send.mention("How do I swap a shift?", signature="v0=" + "0" * 64)
    old = bot.send.mention("How do I swap a shift?", timestamp=int(time.time()) - 6 * 60)
    assert (forged.status_code, old.status_code) == (401, 401)
    bot.settle()
    assert bot.slack.posted_messages() == [] and bot.openai.chat_requests() == []
    with bot.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SlackEvent)) == 0


def test_own_and_other_bots_messages_are_ignored(bot):
    own = {"user": BOT_USER, "bot_id": BOT_ID}
    assert bot.send.direct_message("Here is your answer [1].", **own).status_code == 200
    assert bot.send.direct_message("beep", user="U0OTHERBOT", bot_id="B0OTHER", subtype="bot_message").status_code == 200
    assert bot.send.event({"type": "app_mention", "user": "U0OTHERBOT", "bot_id": "B0OTHER", "channel": "C0HELP",
                           "text": f"<@{BOT_USER}> loop?", "ts": new_ts()}).status_code == 200
    assert bot.send.direct_message("edited", subtype="message_changed").status_code == 200
    bot.settle()
    assert bot.slack.posted_messages() == [] and bot.openai.chat_requests() == []


def test_direct_message_is_answered_in_its_thread(bot):
    bot.openai.enqueue(ANSWER)
    assert bot.send.direct_message("how do i swap a shift").status_code == 200
    [message] = bot.slack.wait_for_calls("chat.postMessage", timeout=10)
    assert message.params["channel"] == "D0ASKER" and message.params["thread_ts"]
    assert bot.openai.chat_requests()[0]["messages"][-1]["content"].endswith("Question: how do i swap a shift")


def test_follow_up_in_a_thread_uses_the_thread_history(bot):
    root = new_ts()
    bot.slack.set_thread("C0HELP", root, [
        {"user": "U0ASKER", "text": f"<@{BOT_USER}> How do I swap a shift?", "ts": root},
        {"user": BOT_USER, "bot_id": BOT_ID, "text": "Open the shift and tap *Swap* [1].", "ts": f"{float(root) + 1:.6f}",
         "thread_ts": root},
    ])
    bot.openai.enqueue("A manager approves swaps within 24 hours [1].")
    bot.send.mention("and how long does approval take?", thread_ts=root, ts=f"{float(root) + 2:.6f}")
    bot.slack.wait_for_calls("chat.postMessage", timeout=10)
    assert bot.slack.params_of("conversations.replies")[0]["ts"] == root
    messages = bot.openai.chat_requests()[0]["messages"]
    assert {"role": "user", "content": "How do I swap a shift?"} in messages
    assert {"role": "assistant", "content": "Open the shift and tap *Swap* [1]."} in messages
    assert bot.slack.posted_messages()[0]["thread_ts"] == root
    with bot.services.sessions() as session:
        assert session.scalars(select(Answer.history_turns)).one() == 2


def test_unreadable_thread_history_still_answers(bot):
    bot.slack.fail_next("conversations.replies", error="missing_scope")
    bot.openai.enqueue(ANSWER)
    bot.send.mention("how long does a shift swap approval take?", thread_ts=new_ts())
    bot.slack.wait_for_calls("chat.postMessage", timeout=10)
    assert bot.slack.posted_messages()[0]["text"].startswith("Open the shift")


def test_model_failure_becomes_a_friendly_excerpt_answer(bot):
    bot.openai.enqueue(Fault(500))
    bot.send.mention("How do I swap a shift?")
    bot.slack.wait_for_calls("chat.postMessage", timeout=10)
    [message] = bot.slack.posted_messages()
    text = _texts(message)
    assert FALLBACK_NOTE in text and "Open the shift and tap Swap" in text
    assert "Traceback" not in text and "500" not in text and "server_error" not in text


def test_internal_error_is_a_short_message_in_the_thread(database_url, tmp_path, caplog):
    class BrokenEmbedder(CountingEmbedder):
        def embed_query(self, text):
            raise RuntimeError("boom: pool exhausted at 10.0.0.7")

    with running_bot(database_url, BrokenEmbedder(), tmp_path) as bot:
        ts = new_ts()
        bot.send.mention("How do I swap a shift?", ts=ts, event_id="Ev0BROKEN")
        bot.slack.wait_for_calls("chat.postMessage", timeout=10)
        bot.settle()
    [message] = bot.slack.posted_messages()
    assert message["text"] == f":warning: {ERROR_TEXT}" and message["thread_ts"] == ts
    assert "boom" not in message["text"] and "Traceback" not in message["text"]
    assert any("Ev0BROKEN" in r.getMessage() and r.exc_info for r in caplog.records)
    assert bot.slack.reactions[("C0HELP", ts)] == []


def test_refusal_mentions_the_support_group_and_is_escalated(bot):
    bot.openai.enqueue("I don't have that information in our help center.")
    bot.send.mention("How do I swap a shift on Mars?")
    bot.slack.wait_for_calls("chat.postMessage", timeout=10)
    bot.settle()
    [message] = bot.slack.posted_messages()
    assert "<!subteam^S0SUPPORT>" in message["text"] and "<!subteam^S0SUPPORT>" in _texts(message)
    with bot.services.sessions() as session:
        assert session.scalars(select(Answer.escalated)).one() is True


def test_mentions_in_model_output_are_defanged(bot):
    bot.openai.enqueue("Tap Swap [1]. @here @channel <!everyone> <!subteam^S0ALL|@all-staff> <@U0BOSS> &lt;!here&gt;")
    bot.send.mention("How do I swap a shift?")
    bot.slack.wait_for_calls("chat.postMessage", timeout=10)
    text = _texts(bot.slack.posted_messages()[0])
    assert "<!" not in text and "<@" not in text
    assert "@here" not in text and "@channel" not in text and "@\u2060here" in text and "@all-staff" in text


def test_long_answer_is_split_within_slack_limits(bot):
    paragraphs = [f"Step {i}: " + "open the shift and tap swap, then wait for approval. " * 8 + "[1]" for i in range(400)]
    bot.openai.enqueue("\n\n".join(paragraphs))
    ts = new_ts()
    bot.send.mention("How do I swap a shift?", ts=ts)
    bot.slack.wait_for_calls("chat.postMessage", timeout=10)
    bot.settle()
    messages = bot.slack.posted_messages()
    assert len(messages) >= 2 and all(m["thread_ts"] == ts for m in messages)
    blocks = [b for m in messages for b in m["blocks"]]
    assert all(len(m["blocks"]) <= 50 and len(m["text"]) <= 3000 for m in messages)
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    body = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert all(f"Step {i}:" in body for i in range(400))
    assert messages[-1]["blocks"][-1]["type"] == "actions"


def test_channel_allow_list_and_per_channel_drafts(database_url, embedder, tmp_path):
    with running_bot(database_url, embedder, tmp_path, slack_answer_channels="C0HELP,C0DRAFTS",
                     slack_draft_channels="C0DRAFTS") as bot:
        bot.openai.default_reply = "Export it from Reports [1]."
        bot.send.mention("How do I export payroll?", channel="C0RANDOM")
        [note] = bot.slack.wait_for_calls("chat.postEphemeral", timeout=10)
        assert note.params["user"] == "U0ASKER" and "not set up to answer in this conversation" in note.params["text"]
        bot.send.mention("How do I export payroll?", channel="C0HELP")
        bot.send.mention("How do I export payroll?", channel="C0DRAFTS")
        bot.settle()
        with bot.services.sessions() as session:
            rows = {a.channel: a for a in session.scalars(select(Answer))}
    assert set(rows) == {"C0HELP", "C0DRAFTS"}  # nothing was asked in C0RANDOM
    assert rows["C0HELP"].status == "refused"  # the only matching article is a draft
    assert [c["document_id"] for c in rows["C0DRAFTS"].citations] == ["payroll"]
    assert {m["channel"] for m in bot.slack.posted_messages()} == {"C0HELP", "C0DRAFTS"}


def test_health_endpoint(bot):
    response = httpx.get(bot.server.url + "/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")
    assert httpx.get(bot.server.url + "/nope").status_code == 404
