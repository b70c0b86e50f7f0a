from datetime import datetime, timedelta, timezone

import pytest
from fakes.slack_server import FakeSlack
from helpers import add_folder_source, sync, write_doc
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from bot.notices import VERIFY_ACTION, Notices
from jobs.tasks import JobContext, digest, stale_scan
from knowledge.gaps import cluster_questions
from knowledge.models import ContentGap, Document, JobRun
from knowledge.sources import open_source

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=timezone.utc)
OPS = "C0OPS"


@pytest.fixture
def slack():
    with FakeSlack() as server:
        users = {"maria@example.com": "U0MARIA"}

        def lookup(params):
            if params["email"] in users:
                return {"user": {"id": users[params["email"]]}}
            return {"ok": False, "error": "users_not_found"}

        server.on("users.lookupByEmail", lookup)
        yield server


def context(sessions, embedder, slack, *, now=NOW):
    notices = Notices(WebClient(token="xoxb-test", base_url=slack.url + "/api/"), channel=OPS)
    return JobContext(
        sessions=sessions, embedder=lambda: embedder,
        open_source=lambda row: open_source(row.kind, row.options, secrets={}),
        notify_stale=notices.post_stale, notify_digest=notices.post_digest, gap_similarity=0.5, clock=lambda: now,
    )


def old_docs(sessions, embedder, folder, *names, owner="maria@example.com"):
    for name in names:
        write_doc(folder, f"{name}.md", f"# {name}\n\nText.", id=name, title=name.title(), owner=owner,
                  url=f"https://help.example.com/articles/{name}", updated_at="2025-01-01")
    add_folder_source(sessions, "hc", folder)
    sync(sessions, "hc", embedder)


def test_stale_scan_posts_one_grouped_notice_and_never_repeats(sessions, embedder, slack, tmp_path):
    old_docs(sessions, embedder, tmp_path / "hc", "billing", "payroll")
    write_doc(tmp_path / "hc", "sso.md", "# SSO\n\nText.", id="sso", title="SSO", owner="nobody@example.com", updated_at="2025-01-01")
    sync(sessions, "hc", embedder)
    ctx = context(sessions, embedder, slack)

    assert stale_scan(ctx) == {"newly_stale": 3, "reported": 3}
    (message,) = slack.posted_messages(OPS)
    assert message["text"] == "3 help-center articles need a look"
    sections = [b["text"]["text"] for b in message["blocks"] if b["type"] == "section"]
    assert "<https://help.example.com/articles/billing|Billing>" in sections[0]
    assert "not reviewed for" in sections[0] and "Owner: <@U0MARIA>" in sections[0]
    assert "Owner: nobody@example.com" in sections[2]  # no Slack user: named, not mentioned
    assert len(slack.calls_to("users.lookupByEmail")) == 2  # one lookup per owner per run
    buttons = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    verify = [b for b in buttons if b["action_id"] == VERIFY_ACTION]
    assert len(verify) == 3 and {b["text"]["text"] for b in buttons} == {"Mark verified", "Open"}
    assert sum(1 for b in buttons if b.get("url")) == 2  # SSO has no URL: no Open button

    assert stale_scan(ctx) == {"newly_stale": 0, "reported": 0}  # nothing new: no message at all
    assert len(slack.posted_messages(OPS)) == 1
    with sessions() as s:
        runs = s.scalars(select(JobRun).where(JobRun.job == "stale_scan")).all()
    assert [(r.trigger, r.status) for r in runs] == [("schedule", "succeeded")] * 2


def test_a_failed_post_is_retried_by_the_next_run(sessions, embedder, slack, tmp_path):
    old_docs(sessions, embedder, tmp_path / "hc", "billing")
    ctx = context(sessions, embedder, slack)
    slack.fail_next("chat.postMessage", "channel_not_found")
    with pytest.raises(SlackApiError):
        stale_scan(ctx)
    with sessions() as s:
        run = s.scalar(select(JobRun))
        assert run.status == "failed" and "channel_not_found" in run.error
        assert s.scalar(select(Document.stale_reported_at)) is None
    assert stale_scan(ctx)["reported"] == 1
    assert len(slack.posted_messages(OPS)) == 2  # the refused call and the retry
    assert stale_scan(ctx)["reported"] == 0


def test_content_gaps_are_grouped_by_similarity(embedder):
    questions = [
        "how do I export timesheets to ADP",
        "export timesheets to ADP payroll",
        "can I export timesheets to ADP?",
        "does Tandem support SAML single sign-on",
        "SAML single sign-on with Okta",
        "what is the meaning of life",
    ]
    clusters = cluster_questions(questions, embedder=embedder, threshold=0.5)
    assert [c.count for c in clusters] == [3, 2, 1]
    assert "ADP" in clusters[0].label and len(clusters[0].examples) == 2
    assert "SAML" in clusters[1].label
    assert [c.count for c in cluster_questions(questions, embedder=embedder, threshold=0.999)] == [1] * 6
    assert cluster_questions([], embedder=embedder) == []


def test_weekly_digest_lists_stale_articles_and_gap_topics_once(sessions, embedder, slack, tmp_path):
    old_docs(sessions, embedder, tmp_path / "hc", "billing")
    now = datetime.now(timezone.utc)  # the digest window is measured against recorded job runs
    ctx = context(sessions, embedder, slack, now=now)
    stale_scan(ctx)
    with sessions.begin() as s:
        for days, question in [(1, "export timesheets to ADP"), (2, "how to export timesheets to ADP"),
                               (3, "SAML single sign-on setup"), (20, "an old question from last month")]:
            s.add(ContentGap(question=question, reason="refused", created_at=now - timedelta(days=days)))

    counts = digest(ctx)
    assert counts == {"stale": 1, "questions": 3, "topics": 2, "posted": True}
    message = slack.posted_messages(OPS)[-1]
    texts = [b["text"]["text"] for b in message["blocks"] if b.get("text") and b["type"] == "section"]
    assert any(t.startswith("*Stale articles: 1*") for t in texts)
    assert any("*2 ×*" in t and "ADP" in t for t in texts) and any("*1 ×* SAML" in t for t in texts)
    assert any(e.get("action_id") == VERIFY_ACTION for b in message["blocks"] if b["type"] == "actions" for e in b["elements"])

    # The next digest starts where this one ended: the same questions are not listed again.
    later = context(sessions, embedder, slack, now=now + timedelta(seconds=1))
    assert digest(later)["questions"] == 0
