"""`zendesk` source: Zendesk Guide (Help Center) articles through the Help Center API.

A full listing walks `/api/v2/help_center[/{locale}]/articles.json` with cursor pagination; a
listing with `since` uses the incremental export (`/api/v2/help_center/incremental/articles.json`),
which needs agent credentials and is not `full` (so it never deletes: run `sync --full` for that).
Sections and categories give the breadcrumb, sideloaded users the owner. The listing carries each
article, so `fetch` makes no request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from knowledge.errors import ConfigurationError, SourceError
from knowledge.sources.base import DocumentError, DocumentRef, Listing, SourceDocument
from knowledge.sources.http import HttpClient, HttpOptions
from knowledge.sources.options import (
    bool_option,
    int_option,
    list_option,
    reject_unknown,
    url_option,
)
from knowledge.text import html_to_markdown, parse_datetime

log = logging.getLogger(__name__)

OPTIONS = ("subdomain", "base_url", "locale", "include_drafts", "include_restricted", "page_size")
SEPARATOR = " › "
INCREMENTAL_OVERLAP = timedelta(minutes=5)
AUTH_HINT = "Check ZENDESK_EMAIL + ZENDESK_API_TOKEN (or ZENDESK_OAUTH_TOKEN) and that the user is an agent or admin."


@dataclass(frozen=True)
class _Article:
    article: dict[str, Any]
    breadcrumb: str | None
    owner: str | None


class ZendeskSource:
    def __init__(
        self,
        *,
        base_url: str,
        locales: list[str] | None = None,
        include_drafts: bool = False,
        include_restricted: bool = False,
        page_size: int = 100,
        email: str | None = None,
        api_token: str | None = None,
        oauth_token: str | None = None,
        http: HttpOptions | None = None,
    ) -> None:
        self.locales = locales or []
        self._default_locales: set[str] = set()
        self.include_drafts = include_drafts
        self.include_restricted = include_restricted
        self.page_size = min(page_size, 100)  # the API's maximum page[size]
        auth: httpx.Auth | None = None
        headers: dict[str, str] = {}
        if oauth_token:
            headers["Authorization"] = f"Bearer {oauth_token}"
        elif email and api_token:
            auth = httpx.BasicAuth(f"{email}/token", api_token)
        # Without credentials only the public articles can be listed, and not incrementally.
        self.authenticated = bool(oauth_token or (email and api_token))
        self.client = HttpClient(
            base_url=base_url, options=http, headers=headers, auth=auth, service="Zendesk", auth_hint=AUTH_HINT
        )

    # -- listing ---------------------------------------------------------------------------------

    def close(self) -> None:
        self.client.close()

    def listing(self, *, since: datetime | None = None) -> Listing:
        if since is not None and self.authenticated:
            return Listing(self._incremental(since), full=False)
        return Listing(self._full(), full=True)

    def _full(self) -> Iterator[DocumentRef]:
        for locale in self.locales or [None]:
            crumbs = {locale: self._breadcrumbs(locale)}
            for page in self._cursor_pages(f"{_prefix(locale)}/articles.json", {"include": "users"}):
                yield from self._refs(page, crumbs)

    def _incremental(self, since: datetime) -> Iterator[DocumentRef]:
        crumbs = {locale: self._breadcrumbs(locale) for locale in self.locales or [None]}
        # The export spans every locale; keep the ones a full listing would (by default the help
        # center's default locale, which the unlocalised sections listing just showed us).
        wanted = set(self.locales) or self._default_locales
        # The export leaves out the last minute's changes and our clock is not Zendesk's: overlap a
        # little (a re-listed unchanged article costs nothing, its version is unchanged).
        start = int((since - INCREMENTAL_OVERLAP).timestamp())
        seen: set[str] = set()
        while True:
            page = self.client.get_json(
                "/api/v2/help_center/incremental/articles.json", params={"start_time": start, "include": "users"}
            )
            articles = page.get("articles") or []
            # Consecutive pages can repeat the boundary article.
            fresh = [a for a in articles if (not wanted or a.get("locale") in wanted) and _external_id(a) not in seen]
            seen.update(_external_id(a) for a in fresh)
            yield from self._refs({**page, "articles": fresh}, crumbs)
            end = page.get("end_time")
            if not page.get("next_page") or not articles or not isinstance(end, int):
                return
            if end <= start:
                # A full page changed within one second (a bulk edit): the export cannot move on.
                log.warning("Zendesk incremental export stalled at start_time=%d; listing all articles instead", start)
                yield from (ref for ref in self._full() if ref.external_id not in seen)
                return
            start = end  # the next page starts at this page's end_time

    def _cursor_pages(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        query = {"page[size]": self.page_size, **(params or {})}
        while True:
            page = self.client.get_json(path, params=query)
            yield page
            meta = page.get("meta") or {}
            if not meta.get("has_more") or not meta.get("after_cursor"):
                return
            query = {**query, "page[after]": meta["after_cursor"]}

    def _breadcrumbs(self, locale: str | None) -> dict[int, str]:
        """section id -> "Category › Parent section › Section", in that locale."""
        prefix = _prefix(locale)
        categories = {
            c["id"]: c.get("name") or "" for page in self._cursor_pages(f"{prefix}/categories.json") for c in page.get("categories") or []
        }
        sections = {s["id"]: s for page in self._cursor_pages(f"{prefix}/sections.json") for s in page.get("sections") or []}
        if locale is None:
            self._default_locales = {s["locale"] for s in sections.values() if s.get("locale")}
        crumbs: dict[int, str] = {}
        for section_id, section in sections.items():
            names, current, hops = [], section, 0
            while current is not None and hops < 10:  # nested sections (Guide Enterprise)
                names.append(current.get("name") or "")
                top = current
                current = sections.get(current.get("parent_section_id"))
                hops += 1
            names.append(categories.get(top.get("category_id"), ""))
            crumbs[section_id] = SEPARATOR.join(n for n in reversed(names) if n) or None
        return crumbs

    def _refs(self, page: dict[str, Any], crumbs: Mapping[str | None, Mapping[int, str]]) -> Iterator[DocumentRef]:
        users = {u.get("id"): u for u in page.get("users") or []}
        for article in page.get("articles") or []:
            if article.get("draft") and not self.include_drafts:
                continue
            if _restricted(article) and not self.include_restricted:
                continue
            author = users.get(article.get("author_id")) or {}
            names = crumbs.get(article.get("locale")) or next(iter(crumbs.values()), {})
            owner = author.get("email") or author.get("name") or _str(article.get("author_id"))
            yield DocumentRef(
                _external_id(article),
                version=article.get("updated_at"),
                payload=_Article(article, names.get(article.get("section_id")), owner),
            )

    # -- documents -------------------------------------------------------------------------------

    def fetch(self, ref: DocumentRef) -> SourceDocument:
        item: _Article | None = ref.payload
        if item is None:
            raise SourceError(f"Zendesk: article {ref.external_id} came without its listing payload.")
        a = item.article
        title = (a.get("title") or a.get("name") or "").strip()
        if not title:
            raise DocumentError("article has no title")
        return SourceDocument(
            external_id=ref.external_id,
            title=title,
            body=html_to_markdown(a.get("body") or ""),
            url=a.get("html_url"),
            locale=a.get("locale"),
            status="draft" if a.get("draft") else "published",
            internal=_restricted(a),
            labels=[str(label) for label in a.get("label_names") or []],
            owner=item.owner,
            breadcrumb=item.breadcrumb,
            updated_at=parse_datetime(a.get("updated_at")),
            meta={"article_id": str(a.get("id")), "section_id": _str(a.get("section_id")) or ""},
        )


def _prefix(locale: str | None) -> str:
    return f"/api/v2/help_center/{locale}" if locale else "/api/v2/help_center"


def _external_id(article: Mapping[str, Any]) -> str:
    # One document per article translation: the same id exists in every locale.
    locale = article.get("locale")
    return f"{article['id']}:{locale}" if locale else str(article["id"])


def _restricted(article: Mapping[str, Any]) -> bool:
    """Visible only to a user segment (signed-in users, agents…), not to everyone."""
    return article.get("user_segment_id") is not None or bool(article.get("user_segment_ids"))


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def open_zendesk(options: Mapping[str, Any], secrets: Mapping[str, str], http: HttpOptions) -> ZendeskSource:
    reject_unknown("zendesk", options, OPTIONS)
    if options.get("base_url"):
        base_url = url_option(options, "base_url")
    elif options.get("subdomain"):
        subdomain = str(options["subdomain"]).strip().removesuffix(".zendesk.com")
        if not subdomain.replace("-", "").isalnum():
            raise ConfigurationError(f"Option subdomain must look like 'acme' (for acme.zendesk.com), got {subdomain!r}.")
        base_url = f"https://{subdomain}.zendesk.com"
    else:
        raise ConfigurationError("A zendesk source needs -o subdomain=acme (or -o base_url=https://acme.zendesk.com).")
    return ZendeskSource(
        base_url=base_url,
        locales=[loc.lower() for loc in list_option(options, "locale")],
        include_drafts=bool_option(options, "include_drafts"),
        include_restricted=bool_option(options, "include_restricted"),
        page_size=int_option(options, "page_size", 100),
        email=secrets.get("zendesk_email"),
        api_token=secrets.get("zendesk_api_token"),
        oauth_token=secrets.get("zendesk_oauth_token"),
        http=http,
    )
