"""Dead internal links: a document that links to a help-center page which no longer exists.

"Internal" means: on the same host and in the same folder as pages the source has published
(e.g. `help.acme.com/hc/en-us/articles/…`). Links elsewhere — category pages, the marketing
site, other products — are not ours to judge, and fetching them would make a scan slow and
flaky, so existence is decided against the documents we know, not over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

_MARKDOWN = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*)?\)")
_ANGLE = re.compile(r"<(https?://[^>\s]+)>")
_BARE = re.compile(r"(?<![(<])\bhttps?://[^\s)>\]\"']+")
# Zendesk-style article URLs keep working whatever the slug: /articles/360001-Old-title.
_NUMERIC_ID = re.compile(r"^(\d{3,})(?:-|$)")


def _key(url: str) -> str | None:
    """Scheme-, query- and fragment-free form: `host/path` without a trailing slash."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.hostname.lower()}{parts.path.rstrip('/')}"


def _id_key(key: str) -> str | None:
    folder, _, last = key.rpartition("/")
    match = _NUMERIC_ID.match(last)
    return f"{folder}/#{match.group(1)}" if match else None


def _folder(key: str) -> str:
    return key.rpartition("/")[0]


def extract_links(body: str, *, base_url: str | None) -> list[str]:
    """Absolute http(s) links in a Markdown body, relative ones resolved against the page's URL."""
    found: list[str] = []
    for pattern in (_MARKDOWN, _ANGLE, _BARE):
        for match in pattern.finditer(body):
            link = match.group(1) if pattern.groups else match.group(0)
            if link.startswith(("#", "mailto:", "tel:")):
                continue
            if not link.startswith(("http://", "https://")):
                if not base_url:
                    continue
                link = urljoin(base_url, link)
            found.append(link.rstrip(".,;:"))
    return list(dict.fromkeys(found))


class LinkIndex:
    """Which help-center pages exist, and which folders count as a source's help center."""

    def __init__(self) -> None:
        self._existing: set[str] = set()
        self._folders: dict[int, set[str]] = {}

    def add(self, source_id: int, url: str | None, *, exists: bool) -> None:
        key = _key(url) if url else None
        if key is None:
            return
        # Deleted pages still tell us where the help center lives: that is where dead links point.
        self._folders.setdefault(source_id, set()).add(_folder(key))
        if exists:
            self._existing.add(key)
            if id_key := _id_key(key):
                self._existing.add(id_key)

    def dead_links(self, source_id: int, body: str, *, base_url: str | None) -> list[str]:
        folders = self._folders.get(source_id, set())
        dead = []
        for link in extract_links(body, base_url=base_url):
            key = _key(link)
            if key is None or _folder(key) not in folders:
                continue
            if key in self._existing or _id_key(key) in self._existing:
                continue
            dead.append(link)
        return dead


def build_index(rows: Iterable[tuple[int, str | None, bool]]) -> LinkIndex:
    """From (source_id, url, exists) rows."""
    index = LinkIndex()
    for source_id, url, exists in rows:
        index.add(source_id, url, exists=exists)
    return index
