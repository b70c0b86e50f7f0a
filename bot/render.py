"""Block Kit for answers, /cite, "Show sources" and the feedback modal. Pure functions: data in, dicts out.

Slack limits respected here: 3000 characters per section text, 50 blocks per message, 3000 per
context element; the notification `text` is kept short.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

from bot.mrkdwn import escape, link, split, to_mrkdwn, truncate
from knowledge.answering import Answer, Citation
from knowledge.feedback import Passage
from knowledge.retrieval import Hit

SECTION_LIMIT = 3000
MAX_BLOCKS = 50
TEXT_LIMIT = 3000
SNIPPET_CHARS = 280
PASSAGE_CHARS = 900

VOTE_UP, VOTE_DOWN, ESCALATE, SHOW_SOURCES = "answer_vote_up", "answer_vote_down", "answer_escalate", "answer_show_sources"
FEEDBACK_MODAL = "answer_feedback_reason"
REASON_BLOCK, REASON_INPUT = "reason", "reason_input"

FALLBACK_NOTE = ":warning: The answer model is unavailable right now, so here are the most relevant excerpts."
CITE_USAGE = "Usage: `/cite <question>` — shows the help-center articles that match, only to you. Example: `/cite how do I swap a shift`"
ERROR_TEXT = "Sorry, something went wrong on my side and I couldn't finish that. Please try again in a moment."


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": truncate(text, SECTION_LIMIT)}]}


def sections(text: str) -> list[dict]:
    return [section(part) for part in split(text, SECTION_LIMIT)]


def freshness(updated_at: datetime | None, now: datetime | None = None) -> str:
    if updated_at is None:
        return ""
    days = ((now or datetime.now(timezone.utc)) - updated_at).days
    return "updated today" if days < 1 else f"updated {days} day{'s' if days != 1 else ''} ago"


def mention_group(group_id: str | None) -> str:
    return f"<!subteam^{group_id}>" if group_id else "the support team"


def _source_line(c: Citation, now: datetime | None) -> str:
    parts = [f"*[{c.n}]* {link(c.url, c.title)}", freshness(c.updated_at, now)]
    if c.stale:
        parts.append(":warning: may be out of date" + (f" ({escape(c.stale_reason)})" if c.stale_reason else ""))
    return " · ".join(p for p in parts if p)


def _buttons(answer_id: int) -> dict:
    def button(text: str, action_id: str) -> dict:
        return {"type": "button", "text": {"type": "plain_text", "text": text, "emoji": True},
                "action_id": action_id, "value": str(answer_id)}

    return {"type": "actions", "block_id": f"answer_{answer_id}", "elements": [
        button("👍", VOTE_UP), button("👎", VOTE_DOWN),
        button("Talk to a human", ESCALATE), button("Show sources", SHOW_SOURCES),
    ]}


def answer_messages(answer: Answer, *, support_group: str | None, now: datetime | None = None) -> list[dict]:
    """One or more chat.postMessage payloads (`text` + `blocks`) for an answer, in order."""
    body = to_mrkdwn(answer.text)
    blocks: list[dict] = []
    if answer.status == "fallback":
        blocks.append(context(FALLBACK_NOTE))
    blocks += sections(body)
    if answer.refused:
        blocks.append(section(f"{escape(answer.escalation_hint or '')} {mention_group(support_group)}".strip()))
    if answer.citations:
        blocks.append(context("*Sources*"))
        blocks += sections("\n".join(_source_line(c, now) for c in answer.citations))
    if answer.id is not None:
        blocks.append(_buttons(answer.id))
    text = body if not answer.refused else f"{body} {mention_group(support_group)}"
    pages = [blocks[i: i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)]
    return [
        {"text": truncate(text, TEXT_LIMIT) if i == 0 else "(continued)", "blocks": page}
        for i, page in enumerate(pages)
    ]


def escalation_text(user_id: str, support_group: str | None) -> str:
    return f"{mention_group(support_group)} — <@{user_id}> would like a person to help with this question."


def cite_blocks(query: str, hits: Sequence[Hit], now: datetime | None = None) -> list[dict]:
    if not hits:
        return [section(f"No help-center article matches “{escape(truncate(query, 200))}”.")]
    blocks = [section(f"Top sources for “{escape(truncate(query, 200))}”:")]
    for i, hit in enumerate(hits, 1):
        stale = hit.meta.get("stale_reason")
        meta = " · ".join(p for p in (freshness(hit.updated_at, now), ":warning: may be out of date" if stale else "") if p)
        snippet = escape(truncate(" ".join(hit.text.split()), SNIPPET_CHARS))
        blocks.append(section(f"*[{i}] {link(hit.url, hit.title)}*" + (f" · {meta}" if meta else "") + f"\n>{snippet}"))
    blocks.append(context("Only you can see this. No answer was generated."))
    return blocks[:MAX_BLOCKS]


def passages_blocks(passages: Sequence[Passage]) -> list[dict]:
    if not passages:
        return [section("This answer was not built from any help-center passage.")]
    blocks = [section("*Passages this answer used*")]
    for p in passages:
        label = f"[{p.n}] " if p.n is not None else "(not cited) "
        text = escape(truncate(p.text, PASSAGE_CHARS)) if p.text is not None else "_This passage changed since the answer was given._"
        blocks.append(section(truncate(f"*{label}{link(p.url, p.title)}*\n>>>{text}", SECTION_LIMIT)))
    return blocks[:MAX_BLOCKS]


def feedback_modal(answer_id: int) -> dict:
    return {
        "type": "modal",
        "callback_id": FEEDBACK_MODAL,
        "private_metadata": json.dumps({"answer_id": answer_id}),
        "title": {"type": "plain_text", "text": "What went wrong?"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [
            section("Thanks — your 👎 is recorded. A reason helps us fix the help center (optional)."),
            {
                "type": "input", "block_id": REASON_BLOCK, "optional": True,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "multiline": True, "max_length": 2000},
            },
        ],
    }
