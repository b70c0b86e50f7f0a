"""`intercom` source: Intercom Help Center articles through the Articles API.

`GET /articles` (page-numbered, newest update first) lists every article with its translations in
`translated_content`; each published translation becomes its own document (`{id}:{locale}`).
`GET /help_center/collections` names the parent collections for the breadcrumb. Intercom has no
incremental article export, so every listing is full; the pipeline's version check keeps
unchanged articles free. The listing carries each article, so `fetch` makes no request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from knowledge.errors import SourceError
from knowledge.sources.base import DocumentError, DocumentRef, Listing, SourceDocument
from knowledge.sources.http import HttpClient, HttpOptions
from knowledge.sources.options import int_option, reject_unknown, url_option
from knowledge.text import html_to_markdown

log = logging.getLogger(__name__)

OPTIONS = ("base_url", "api_version", "page_size")
DEFAULT_BASE_URL = "https://api.intercom.io"
DEFAULT_API_VERSION = "2.11"
SEPARATOR = " › "
MAX_PAGES = 10_000  # a guard against a pagination loop, far above any real help center


@dataclass(frozen=True)
class _Translation:
    article: dict[str, Any]
    content: dict[str, Any]
    locale: str | None
    breadcrumb: str | None


class IntercomSource:
    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        page_size: int = 50,
        access_token: str | None = None,
        http: HttpOptions | None = None,
    ) -> None:
        self.page_size = min(page_size, 250)  # the API's maximum per_page
        self.access_token = access_token
        headers = {"Intercom-Version": api_version, "Accept": "application/json"}
        if access_token:
            headers["Authorization"] = f"Bearer {access_token}"
        self.client = HttpClient(
            base_url=base_url, options=http, headers=headers, service="Intercom",
            auth_hint="Check INTERCOM_ACCESS_TOKEN (it needs the 'Read articles' permission).",
        )

    def close(self) -> None:
        self.client.close()

    def listing(self, *, since: datetime | None = None) -> Listing:  # noqa: ARG002 - no incremental API
        if not self.access_token:
            raise SourceError("Intercom needs an access token: set INTERCOM_ACCESS_TOKEN.")
        listing = Listing(iter(()), full=True)
        listing.refs = self._refs(listing)
        return listing

    def _refs(self, listing: Listing) -> Iterator[DocumentRef]:
        collections = {str(c["id"]): c for c in self._pages("/help_center/collections") if "id" in c}
        seen: set[str] = set()
        total = None
        for article, total in self._articles():
            if str(article.get("id")) in seen:  # the list shifted under page numbers: skip the repeat
                continue
            seen.add(str(article.get("id")))
            for locale, content in _translations(article):
                if content.get("state") != "published":
                    continue
                updated = content.get("updated_at") or article.get("updated_at")
                yield DocumentRef(
                    f"{article['id']}:{locale}" if locale else str(article["id"]),
                    version=None if updated is None else str(updated),
                    payload=_Translation(article, content, locale, _breadcrumb(article, collections, locale)),
                )
        if isinstance(total, int) and len(seen) < total:
            # Page numbers over a list sorted by update time miss an article edited mid-listing:
            # this listing is not complete, so it must not delete anything.
            log.warning("Intercom listed %d of %d articles (edited during the sync); no deletions this run", len(seen), total)
            listing.full = False

    def _articles(self) -> Iterator[tuple[dict[str, Any], int | None]]:
        for page in self._raw_pages("/articles"):
            for article in page.get("data") or []:
                yield article, page.get("total_count")

    def _pages(self, path: str) -> Iterator[dict[str, Any]]:
        for page in self._raw_pages(path):
            yield from page.get("data") or []

    def _raw_pages(self, path: str) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"page": 1, "per_page": self.page_size}
        for _ in range(MAX_PAGES):
            page = self.client.get_json(path, params=params)
            yield page
            pages = page.get("pages") or {}
            following = _next_params(pages, params)
            if following is None or not page.get("data"):
                return
            params = following
        raise SourceError(f"Intercom: more than {MAX_PAGES} pages from {path}; giving up.")

    def fetch(self, ref: DocumentRef) -> SourceDocument:
        item: _Translation | None = ref.payload
        if item is None:
            raise SourceError(f"Intercom: article {ref.external_id} came without its listing payload.")
        a, c = item.article, item.content
        title = (c.get("title") or "").strip()
        if not title:
            raise DocumentError("article has no title")
        author = c.get("author_id") or a.get("author_id")
        updated = c.get("updated_at") or a.get("updated_at")
        return SourceDocument(
            external_id=ref.external_id,
            title=title,
            body=html_to_markdown(c.get("body") or ""),
            url=c.get("url") or a.get("url"),
            locale=item.locale,
            status="published",
            labels=[str(t["name"]) for t in (a.get("tags") or {}).get("tags") or [] if t.get("name")],
            owner=None if author is None else str(author),
            breadcrumb=item.breadcrumb,
            updated_at=datetime.fromtimestamp(updated, tz=timezone.utc) if isinstance(updated, (int, float)) else None,
            meta={"article_id": str(a.get("id"))},
        )


def _translations(article: Mapping[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    """(locale, content) per language; a single-language help center has no translated_content."""
    translated = article.get("translated_content") or {}
    found = [(locale, content) for locale, content in translated.items() if isinstance(content, dict)]
    return found or [(article.get("default_locale"), dict(article))]


def _breadcrumb(article: Mapping[str, Any], collections: Mapping[str, Mapping[str, Any]], locale: str | None) -> str | None:
    names: list[str] = []
    current = collections.get(str(article.get("parent_id")))
    while current is not None and len(names) < 10:  # collections nest via parent_id
        translated = (current.get("translated_content") or {}).get(locale) if locale else None
        names.append((translated or {}).get("name") or current.get("name") or "")
        current = collections.get(str(current.get("parent_id")))
    return SEPARATOR.join(n for n in reversed(names) if n) or None


def _next_params(pages: Mapping[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
    """Parameters for the next page: `pages.next` is a URL, a cursor object, or absent."""
    following = pages.get("next")
    if isinstance(following, str) and following:
        query = dict(parse_qsl(urlsplit(following).query))
        return {**params, **query} if query else None
    if isinstance(following, dict) and following:  # a cursor replaces the page number
        return {**{k: v for k, v in params.items() if k != "page"}, **{k: v for k, v in following.items() if v is not None}}
    page, total = pages.get("page"), pages.get("total_pages")
    if isinstance(page, int) and isinstance(total, int) and page < total:
        return {**params, "page": page + 1}
    return None


def open_intercom(options: Mapping[str, Any], secrets: Mapping[str, str], http: HttpOptions) -> IntercomSource:
    reject_unknown("intercom", options, OPTIONS)
    return IntercomSource(
        base_url=url_option(options, "base_url") if options.get("base_url") else DEFAULT_BASE_URL,
        api_version=str(options.get("api_version") or DEFAULT_API_VERSION),
        page_size=int_option(options, "page_size", 50),
        access_token=secrets.get("intercom_access_token"),
        http=http,
    )
