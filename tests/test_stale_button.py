"""The "Mark verified" button of a stale notice, clicked through the real Bolt app over signed HTTP."""

from __future__ import annotations

import pytest
from slack_client import running_bot
from sqlalchemy import select

from bot.listeners.stale import NOT_OPERATOR
from bot.notices import VERIFY_ACTION
from jobs.tasks import stale_scan
from knowledge.models import Document

OPS = "C0OPS"


@pytest.fixture
def bot(database_url, embedder, tmp_path):
    with running_bot(database_url, embedder, tmp_path, slack_operator_user_ids="U0OPS", slack_operator_channel=OPS) as running:
        yield running


def _notice(bot) -> tuple[dict, str]:
    assert stale_scan(bot.services.job_context)["reported"] == 1
    (posted,) = bot.slack.posted_messages(OPS)
    (button,) = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"] if e["action_id"] == VERIFY_ACTION]
    return {"ts": "1700000000.000100", "text": posted["text"], "blocks": posted["blocks"]}, button["value"]


def _verified_by(bot) -> str | None:
    with bot.services.sessions() as s:
        return s.scalar(select(Document.verified_by).where(Document.external_id == "plans"))


def test_an_operator_marks_a_document_verified_from_the_notice(bot):
    message, value = _notice(bot)
    bot.send.click(VERIFY_ACTION, value, message=message, user="U0OPS", channel=OPS, response_id="verify")
    bot.slack.wait_for_calls("/response/verify", timeout=10)
    (reply,) = bot.slack.responses("verify")
    assert reply["replace_original"] is True
    notes = [b for b in reply["blocks"] if b.get("block_id") == f"verified:{value}"]
    assert "verified by <@U0OPS>" in notes[0]["elements"][0]["text"]
    assert not any(b["type"] == "actions" for b in reply["blocks"])  # the buttons are gone
    assert _verified_by(bot) == "U0OPS"
    with bot.services.sessions() as s:
        assert s.scalar(select(Document.stale_reason).where(Document.external_id == "plans")) is None


def test_only_operators_may_verify(bot):
    message, value = _notice(bot)
    bot.send.click(VERIFY_ACTION, value, message=message, user="U0SOMEONE", channel=OPS, response_id="deny")
    bot.slack.wait_for_calls("/response/deny", timeout=10)
    assert bot.slack.responses("deny")[0]["text"] == NOT_OPERATOR
    assert _verified_by(bot) is None
