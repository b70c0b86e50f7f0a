"""Markdown → Slack mrkdwn, with everything that could ping people taken out of model output."""

from __future__ import annotations

import re

from slackify_markdown import slackify_markdown

# <!here>, <!channel>, <!everyone>, <!subteam^S1|@group>, <@U1>, <#C1|name>: Slack's control sequences.
_SPECIAL = re.compile(r"<([!@#])([^<>|]*)(?:\|([^<>]*))?>")
_BROADCAST = re.compile(r"(?<![\w@])@(here|channel|everyone)\b", re.IGNORECASE)
_BREAK = "\u2060"  # word joiner: invisible, but "@\u2060here" is no longer a broadcast
_BROADCAST_NAMES = {"here", "channel", "everyone"}


def escape(text: str) -> str:
    """Plain text → mrkdwn-safe text (Slack's three reserved characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _as_plain(match: re.Match[str]) -> str:
    kind, target, label = match.groups()
    if label:
        return label if label[:1] in "@#" else ("#" if kind == "#" else "@") + label
    if kind == "!":
        return "@" + (target if target in _BROADCAST_NAMES else "group")
    return ("#" if kind == "#" else "@") + target


def defang(text: str) -> str:
    """Model output must never notify anyone: mentions become plain words."""
    text = _SPECIAL.sub(_as_plain, text)
    return _BROADCAST.sub(lambda m: "@" + _BREAK + m.group(1), text)


def to_mrkdwn(markdown: str) -> str:
    """Convert a (model-written) Markdown answer to mrkdwn that pings nobody."""
    out = slackify_markdown(defang(markdown)).strip()
    # The parser decodes entities (&lt;!here&gt;) and accepts link targets such as "!here":
    # whatever control sequence survived conversion is shown literally.
    out = _SPECIAL.sub(lambda m: escape(m.group(0)), out)
    return _BROADCAST.sub(lambda m: "@" + _BREAK + m.group(1), out)


def link(url: str | None, label: str) -> str:
    """A mrkdwn link for http(s) URLs, else the escaped label alone."""
    if not url or not url.startswith(("http://", "https://")):
        return escape(label)
    return f"<{url.replace('|', '%7C').replace('>', '%3E').replace('<', '%3C')}|{escape(label).replace('|', '¦')}>"


def split(text: str, limit: int) -> list[str]:
    """Cut text into pieces of at most `limit` characters: at blank lines, else lines, else spaces."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = max(window.rfind("\n\n"), 0) or max(window.rfind("\n"), 0) or max(window.rfind(" "), 0) or limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
