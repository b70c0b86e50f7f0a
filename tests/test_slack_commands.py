"""Slash commands over signed HTTP: /cite and the operator command /supportbot-admin."""

from __future__ import annotations

import pytest
from helpers import write_doc
from slack_client import running_bot
from sqlalchemy import select

from bot.render import CITE_USAGE
from bot.render_admin import DENIED
from knowledge.models import JobRun
from knowledge.operations import REFRESH
from knowledge.runs import exclusive_run


@pytest.fixture
def bot(database_url, embedder, tmp_path):
    with running_bot(database_url, embedder, tmp_path, slack_operator_user_ids="U0OPS",
                     slack_operator_usergroup="S0OPS") as running:
        yield running


def _section_texts(response: dict) -> str:
    return "\n".join(b["text"]["text"] for b in response.get("blocks", []) if b["type"] in ("section",))


def test_cite_lists_sources_privately_without_generating(bot):
    ack = bot.send.command("/cite", "how do I swap a shift", response_id="cite1")
    assert ack.status_code == 200 and ack.text == ""
    bot.slack.wait_for_calls("/response/cite1", timeout=10)
    [reply] = bot.slack.responses("cite1")
    assert reply["response_type"] == "ephemeral"
    text = _section_texts(reply)
    assert "*[1] <https://help.example/swap|Swap a shift>* · updated 3 days ago" in text
    assert ">Open the shift and tap Swap." in text
    assert "Export payroll" not in text  # a draft: not cited by default
    assert bot.openai.chat_requests() == []


def test_cite_without_a_question_shows_usage(bot):
    ack = bot.send.command("/cite", "   ")
    assert ack.status_code == 200 and ack.text == CITE_USAGE  # Slack shows an ack body to the user only
    bot.settle()
    assert bot.slack.responses() == []


def test_non_operator_is_denied(bot):
    bot.slack.set_usergroup("S0OPS", ["U0SOMEONE"])
    bot.send.command("/supportbot-admin", "reindex", user="U0ASKER", response_id="deny")
    bot.slack.wait_for_calls("/response/deny", timeout=10)
    assert bot.slack.responses("deny") == [{"text": DENIED, "response_type": "ephemeral"}]
    with bot.services.sessions() as session:
        assert session.scalars(select(JobRun)).all() == []


def test_operator_reindex_runs_in_the_background_and_reports(bot, tmp_path):
    write_doc(tmp_path, "kiosk.md", "# Kiosk mode\n\nClock in on a shared tablet.", id="kiosk", title="Kiosk mode")
    bot.send.command("/supportbot-admin", "reindex hc", user="U0OPS", response_id="ri")
    bot.slack.wait_for_calls("/response/ri", count=2, timeout=10)
    started, finished = (r["text"] for r in bot.slack.responses("ri"))
    assert "Reindex of `hc` started" in started
    assert "`hc` succeeded: 1 added, 0 updated, 3 unchanged, 0 deleted, 0 failed" in finished
    with bot.services.sessions() as session:
        run = session.scalars(select(JobRun)).one()
    assert (run.job, run.key, run.trigger, run.who, run.status) == (REFRESH, "hc", "operator", "U0OPS", "succeeded")


def test_operator_group_member_may_reindex_everything(bot):
    bot.slack.set_usergroup("S0OPS", ["U0GROUPIE"])
    bot.send.command("/supportbot-admin", "reindex", user="U0GROUPIE", response_id="all")
    bot.slack.wait_for_calls("/response/all", count=2, timeout=10)
    assert "every source" in bot.slack.responses("all")[0]["text"]
    assert "`hc` succeeded" in bot.slack.responses("all")[1]["text"]


def test_second_reindex_while_one_runs_is_told_so(bot):
    with exclusive_run(bot.services.sessions, REFRESH, key="hc", trigger="schedule"):
        bot.send.command("/supportbot-admin", "reindex hc", user="U0OPS", response_id="busy")
        bot.slack.wait_for_calls("/response/busy", timeout=10)
    [reply] = bot.slack.responses("busy")
    assert "already running" in reply["text"] and reply["response_type"] == "ephemeral"


def test_reindex_of_an_unknown_source_says_so(bot):
    bot.send.command("/supportbot-admin", "reindex nope", user="U0OPS", response_id="nope")
    bot.slack.wait_for_calls("/response/nope", timeout=10)
    text = bot.slack.responses("nope")[0]["text"]
    assert "nope" in text and "Traceback" not in text


def test_status_and_stale_and_usage(bot):
    bot.send.command("/supportbot-admin", "status", user="U0OPS", response_id="status")
    bot.send.command("/supportbot-admin", "stale", user="U0OPS", response_id="stale")
    bot.send.command("/supportbot-admin", "frobnicate", user="U0OPS", response_id="usage")
    for rid in ("status", "stale", "usage"):
        bot.slack.wait_for_calls(f"/response/{rid}", timeout=10)
    status = _section_texts(bot.slack.responses("status")[0])
    assert "*Knowledge base* — 3 documents, 1 stale" in status
    assert "*hc* (folder) — 3 documents, 1 stale" in status and "last sync succeeded" in status
    assert "0 questions" in status
    stale = _section_texts(bot.slack.responses("stale")[0])
    assert "<https://help.example/plans|Plans and pricing>" in stale or "not set up" in stale
    assert bot.slack.responses("usage")[0]["text"].startswith("Usage: `/supportbot-admin reindex [source]`")
