"""Turning source content into clean text: HTML → Markdown with headings, dates, content hashes."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime, timezone
from typing import Any

from knowledge.sources.base import DocumentError

_BLANKS = re.compile(r"\n{3,}")


def html_to_markdown(html: str) -> str:
    """Convert an HTML fragment or page to Markdown, keeping headings, lists and tables.

    BeautifulSoup tolerates broken markup. Scripts, styles and the like are removed with their
    content (markdownify's `strip` would keep the script text).
    """
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "iframe", "svg"]):
        tag.decompose()
    text = MarkdownConverter(heading_style="ATX", strip=["img"], bullets="-").convert_soup(soup)
    return _BLANKS.sub("\n\n", text).strip()


def first_heading(markdown: str, *, max_level: int = 1) -> str | None:
    """Text of the first Markdown heading of level 1..max_level (a fallback title)."""
    match = re.search(rf"^#{{1,{max_level}}}\s+(.+?)\s*$", markdown, re.MULTILINE)
    return match.group(1) if match else None


def normalise_body(body: str) -> str:
    body = body.replace("\r\n", "\n").replace("\x00", "")
    return _BLANKS.sub("\n\n", "\n".join(line.rstrip() for line in body.splitlines())).strip()


def decode_utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"not valid UTF-8 (byte {exc.start})") from exc


def parse_datetime(value: Any) -> datetime | None:
    """Front-matter and API dates: ISO strings, YAML dates/datetimes, or nothing."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise DocumentError(f"unreadable date {value!r}") from exc
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def content_hash(*parts: Any) -> str:
    """Stable hash over everything that, when changed, must change what we index or show."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
