"""Rendering: Markdown → mrkdwn, defanging, Slack's size limits, Block Kit shapes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from bot.mrkdwn import defang, escape, link, split, to_mrkdwn
from bot.render import (
    FALLBACK_NOTE,
    answer_messages,
    cite_blocks,
    feedback_modal,
    freshness,
    passages_blocks,
)
from bot.render_admin import health_blocks, home_view, reindex_result, stale_blocks, stats_blocks
from knowledge.answering import Answer, Citation
from knowledge.feedback import Passage
from knowledge.health import AnswerStats, KbHealth, SourceHealth
from knowledge.operations import RefreshOutcome
from knowledge.retrieval import Hit
from knowledge.sync import SyncReport

NOW = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)


def citation(n=1, **kw) -> Citation:
    base = dict(n=n, title="Swap a shift", url="https://help.example/swap", updated_at=NOW - timedelta(days=3),
                stale=False, stale_reason=None, document_id="swap", document_pk=1)
    return Citation(**(base | kw))


def answer(text="Tap **Swap** [1].", status="answered", citations=None, **kw) -> Answer:
    return Answer(text=text, status=status, generator="model", query="q",
                  citations=[citation()] if citations is None else citations, id=7, **kw)


@pytest.mark.parametrize(("markdown", "mrkdwn"), [
    ("Tap **Swap** and *wait* [1].", "Tap *Swap* and _wait_ [1]."),
    ("# Title\n\n- one\n- two", "*Title*\n\n•   one\n•   two"),
    ("See [the guide](https://help.example/a?b=1) now", "See <https://help.example/a?b=1|the guide> now"),
    ("Use `a < b` & ~~old~~", "Use `a < b` &amp; ~old~"),
    ("5 < 6 > 4 & co", "5 &lt; 6 &gt; 4 &amp; co"),
])
def test_markdown_to_mrkdwn(markdown, mrkdwn):
    assert to_mrkdwn(markdown) == mrkdwn


@pytest.mark.parametrize("evil", [
    "@here", "@channel", "@everyone", "<!here>", "<!channel>", "<!everyone>", "<!here|here>", "<!subteam^S123>",
    "<!subteam^S123|@support>", "<@U123>", "&lt;!here&gt;", "[click](!here)", "**@here**", "<!date^1392734382^{date}|x>",
])
def test_nothing_in_model_output_can_notify(evil):
    out = to_mrkdwn(f"Ask {evil} now [1].")
    assert "<!" not in out and "<@" not in out
    assert not any(f"@{word}" in out for word in ("here", "channel", "everyone"))


def test_defang_keeps_the_words_readable():
    assert defang("ping <!subteam^S1|@oncall> and <@U1> in <#C1|general>") == "ping @oncall and @U1 in #general"
    assert defang("email me at ana@here.com") == "email me at ana@here.com"  # not a broadcast


def test_escape_and_link():
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"
    assert link("https://x.test/a|b", "T <1>") == "<https://x.test/a%7Cb|T &lt;1&gt;>"
    assert link("file:///etc/passwd", "Doc") == "Doc" and link(None, "Doc") == "Doc"


def test_split_prefers_paragraphs_then_lines_then_words():
    text = "\n\n".join(["a" * 40, "b" * 40, "c" * 40])
    assert split(text, 90) == ["a" * 40 + "\n\n" + "b" * 40, "c" * 40]
    assert split("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert all(len(p) <= 50 for p in split(" ".join(["word"] * 100), 50))


def test_freshness():
    assert freshness(NOW - timedelta(hours=2), NOW) == "updated today"
    assert freshness(NOW - timedelta(days=1), NOW) == "updated 1 day ago"
    assert freshness(NOW - timedelta(days=40), NOW) == "updated 40 days ago"
    assert freshness(None, NOW) == ""


def test_answer_blocks_sources_stale_badge_and_buttons():
    stale = citation(2, title="Plans", url=None, stale=True, stale_reason="not reviewed in 180 days")
    [message] = answer_messages(answer("Tap **Swap** [1]. Pro costs $8 [2].", citations=[citation(), stale]),
                                support_group="S1", now=NOW)
    blocks = message["blocks"]
    assert [b["type"] for b in blocks] == ["section", "context", "section", "actions"]
    assert message["text"] == "Tap *Swap* [1]. Pro costs $8 [2]."
    assert blocks[2]["text"]["text"] == (
        "*[1]* <https://help.example/swap|Swap a shift> · updated 3 days ago\n"
        "*[2]* Plans · updated 3 days ago · :warning: may be out of date (not reviewed in 180 days)"
    )
    assert {e["value"] for e in blocks[3]["elements"]} == {"7"}
    assert "subteam" not in message["text"]  # only refusals call people


def test_refusal_mentions_the_support_group():
    refused = answer("I don't know.", status="refused", citations=[], escalation_hint="I've flagged this.")
    [message] = answer_messages(refused, support_group="S1", now=NOW)
    assert message["blocks"][1]["text"]["text"] == "I've flagged this. <!subteam^S1>"
    assert "<!subteam^S1>" in message["text"]
    [without] = answer_messages(refused, support_group=None, now=NOW)
    assert without["blocks"][1]["text"]["text"] == "I've flagged this. the support team"


def test_fallback_answer_says_so():
    [message] = answer_messages(answer(status="fallback"), support_group=None, now=NOW)
    assert message["blocks"][0]["elements"][0]["text"] == FALLBACK_NOTE


def test_huge_answer_respects_every_limit():
    text = "\n\n".join(f"Paragraph {i} " + "lorem ipsum dolor " * 60 + "[1]" for i in range(200))
    many = [citation(i, title=f"Doc {i} " + "t" * 200) for i in range(1, 40)]
    messages = answer_messages(answer(text, citations=many), support_group=None, now=NOW)
    assert len(messages) > 1
    for m in messages:
        assert len(m["blocks"]) <= 50 and len(m["text"]) <= 3000
        for b in m["blocks"]:
            body = b.get("text", {}).get("text") or "".join(e.get("text", "") for e in b.get("elements", []) if isinstance(e.get("text"), str))
            assert len(body) <= 3000
    assert sum(b["type"] == "actions" for m in messages for b in m["blocks"]) == 1


def test_cite_and_passage_blocks():
    hit = Hit(chunk_id="c1", document_id=1, external_id="swap", source="hc", title="Swap a shift",
              url="https://help.example/swap", updated_at=NOW - timedelta(days=2), breadcrumb="Swap a shift",
              text="Open the shift <and> tap Swap. " * 30, score=1.0, similarity=0.9, lexical=None,
              meta={"stale_reason": "old"})
    blocks = cite_blocks("swap <shift>", [hit], now=NOW)
    assert blocks[0]["text"]["text"] == "Top sources for “swap &lt;shift&gt;”:"
    first = blocks[1]["text"]["text"]
    assert first.startswith("*[1] <https://help.example/swap|Swap a shift>* · updated 2 days ago · :warning:")
    assert "&lt;and&gt;" in first and first.endswith("…")
    assert cite_blocks("nothing", [], now=NOW)[0]["text"]["text"] == "No help-center article matches “nothing”."

    passages = passages_blocks([Passage(1, "Swap", "https://h/s", "x" * 5000), Passage(None, "Old", None, None)])
    assert all(len(b["text"]["text"]) <= 3000 for b in passages)
    assert "changed since the answer" in passages[2]["text"]["text"] and "(not cited)" in passages[2]["text"]["text"]


def test_feedback_modal():
    modal = feedback_modal(42)
    assert modal["type"] == "modal" and modal["private_metadata"] == '{"answer_id": 42}'
    assert modal["blocks"][1]["optional"] is True


def test_operator_rendering():
    health = KbHealth([SourceHealth("hc", "folder", 12, 2, "partial", NOW, {"added": 1, "failed": 1}, 1),
                       SourceHealth("zd", "zendesk", 0, 0, None, None)])
    text = health_blocks(health, running=["zd"])[0]["text"]["text"]
    assert "*Knowledge base* — 12 documents, 2 stale" in text
    assert "*hc* (folder) — 12 documents, 2 stale · :warning: last sync partial" in text and "1 added, 1 failed" in text
    assert "*zd* (zendesk) — 0 documents · never synced · :arrows_counterclockwise: syncing now" in text
    stats = AnswerStats(7, 10, 7, 2, 1, 3, 3, 1)
    assert "👍 rate: 75% (3 👍 / 1 👎)" in stats_blocks(stats)[0]["text"]["text"]
    assert home_view(health, stats)["type"] == "home"
    report = SyncReport(run_id=1, source="hc", status="succeeded", added=2, unchanged=5)
    result = reindex_result([RefreshOutcome("hc", report=report), RefreshOutcome("zd", skipped="busy")])
    assert "`hc` succeeded: 2 added, 0 updated, 5 unchanged, 0 deleted, 0 failed" in result
    assert "`zd`: already running" in result

    class Row:
        title, url, reason, owner = "Plans", "https://h/p", "not reviewed in 180 days", "maria@example.com"

    assert "<https://h/p|Plans> — not reviewed in 180 days (owner: maria@example.com)" in stale_blocks([Row()])[0]["text"]["text"]
    assert "No stale documents" in stale_blocks([])[0]["text"]["text"]
