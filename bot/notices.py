"""Operator-channel notices: newly stale articles (daily) and the weekly digest, as Block Kit.

Jobs never see Slack: the composition root hands them `Notices.post_stale` / `post_digest` as
plain callables. Owners are mentioned (<@U…>) when their email is a Slack user; lookups are
cached for one message, so a run with twenty articles by one owner costs one API call.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from knowledge.digest import Digest
from knowledge.stale import DELETED, StaleDocument

log = logging.getLogger(__name__)

VERIFY_ACTION = "stale_verify"
OPEN_ACTION = "stale_open"
# Slack allows 50 blocks per message; each article takes two.
MAX_DOCUMENTS = 20
MAX_GAPS = 15


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Notices:
    def __init__(self, client: WebClient, *, channel: str) -> None:
        self.client = client
        self.channel = channel

    def post_stale(self, docs: list[StaleDocument]) -> list[int]:
        """One grouped message; returns the ids it covered (the job marks exactly those reported)."""
        shown = docs[:MAX_DOCUMENTS]
        if not shown:
            return []
        mention = self._mentioner()
        noun = "article needs" if len(shown) == 1 else "articles need"
        blocks: list[dict[str, Any]] = [_header(f"{len(shown)} help-center {noun} a look")]
        for doc in shown:
            blocks.extend(document_blocks(doc, mention(doc.owner)))
        if len(docs) > len(shown):  # the rest stay unreported and lead tomorrow's notice
            blocks.append(_context(f"{len(docs) - len(shown)} more follow in the next notice · `supportbot stale --list`"))
        self._post(f"{len(shown)} help-center {noun} a look", blocks)
        return [d.document_id for d in shown]

    def post_digest(self, digest: Digest) -> bool:
        blocks = digest_blocks(digest, self._mentioner())
        span = f"{digest.since:%b %d} – {digest.until:%b %d}"
        self._post(f"Help-center digest {span}: {digest.stale_total} stale, {digest.questions} unanswered", blocks)
        return True

    def _post(self, text: str, blocks: list[dict[str, Any]]) -> None:
        self.client.chat_postMessage(channel=self.channel, text=text, blocks=blocks, unfurl_links=False)

    def _mentioner(self):  # noqa: ANN202 - a closure over one message's lookup cache
        cache: dict[str, str] = {}

        def mention(owner: str | None) -> str:
            if not owner:
                return "no owner"
            if "@" not in owner:
                return escape(owner)
            if owner not in cache:
                cache[owner] = self._lookup(owner)
            return cache[owner]

        return mention

    def _lookup(self, email: str) -> str:
        try:
            user = self.client.users_lookupByEmail(email=email)["user"]
            return f"<@{user['id']}>"
        except SlackApiError as exc:  # users_not_found, missing users:read.email scope…: name them instead
            log.info("no Slack user for %s: %s", email, exc.response.get("error"))
            return escape(email)


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text[:150], "emoji": True}}


def _context(mrkdwn: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn}]}


def document_blocks(doc: StaleDocument, owner: str) -> list[dict[str, Any]]:
    """A section (title, reason, owner) and its buttons; `block_id`s carry the document id."""
    name = escape(doc.title)
    title = f"<{doc.url}|{name}>" if doc.url and doc.reason != DELETED else name
    text = f"*{title}*  ·  {escape(doc.source)}\n_{escape(doc.reason)}_\nOwner: {owner}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "block_id": f"stale:{doc.document_id}", "text": {"type": "mrkdwn", "text": text[:3000]}}
    ]
    if doc.reason == DELETED:  # nothing to verify or open: it is gone, and already out of answers
        return blocks
    buttons: list[dict[str, Any]] = [
        {
            "type": "button", "action_id": VERIFY_ACTION, "style": "primary", "value": str(doc.document_id),
            "text": {"type": "plain_text", "text": "Mark verified"},
        }
    ]
    if doc.url:
        buttons.append(
            {"type": "button", "action_id": OPEN_ACTION, "url": doc.url, "text": {"type": "plain_text", "text": "Open"}}
        )
    blocks.append({"type": "actions", "block_id": f"stale_actions:{doc.document_id}", "elements": buttons})
    return blocks


def digest_blocks(digest: Digest, mention) -> list[dict[str, Any]]:  # noqa: ANN001 - Notices._mentioner
    blocks: list[dict[str, Any]] = [_header(f"Help-center digest · {digest.since:%b %d} – {digest.until:%b %d}")]
    if digest.empty:
        blocks.append(_context("Nothing stale and no unanswered questions this week. 🎉"))
        return blocks
    blocks.append(_section(f"*Stale articles: {digest.stale_total}*" + (" (longest first)" if digest.stale else "")))
    for doc in digest.stale:
        blocks.extend(document_blocks(doc, mention(doc.owner)))
    if digest.stale_total > len(digest.stale):
        blocks.append(_context(f"{digest.stale_total - len(digest.stale)} more · `supportbot stale --list`"))
    groups = len(digest.gaps)
    blocks.append(_section(
        f"*Content gaps: {digest.questions} unanswered question{'s' if digest.questions != 1 else ''}"
        f" in {groups} topic{'s' if groups != 1 else ''}* — articles the help center is missing"
    ))
    for gap in digest.gaps[:MAX_GAPS]:
        also = "\n_also: " + " · ".join(f"“{escape(e)}”" for e in gap.examples) + "_" if gap.examples else ""
        blocks.append(_section(f"*{gap.count} ×* {escape(gap.label)}{also}"))
    if groups > MAX_GAPS:
        blocks.append(_context(f"{groups - MAX_GAPS} smaller topics not shown"))
    return blocks


def _section(mrkdwn: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn[:3000]}}


def mark_verified_in_blocks(blocks: list[dict[str, Any]], document_id: int, note: str) -> list[dict[str, Any]]:
    """The posted message with one article's buttons replaced by who verified it."""
    out = []
    for block in blocks:
        if block.get("block_id") == f"stale_actions:{document_id}":
            out.append({**_context(note), "block_id": f"verified:{document_id}"})
        else:
            out.append(block)
    return out
