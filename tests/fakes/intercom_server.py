"""Fake Intercom REST API (Articles and Help Center collections) on loopback, real JSON shapes.

`GET /articles` and `GET /help_center/collections` are page-numbered (`page`, `per_page`) and
answer `{"type": "list", "pages": {"type": "pages", "page", "per_page", "total_pages", "next"},
"total_count", "data"}`, newest update first. `pages.next` is a URL (`next_style="url"`) or a
cursor object (`"object"`). Bearer auth; the `Intercom-Version` header is recorded.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fakes.http import Recorded, Response, json_response, route
from fakes.scripted import ScriptedServer

OLD = 1767605400  # 2026-01-05T09:30:00Z


class FakeIntercom(ScriptedServer):
    def __init__(self, *, token: str, next_style: str = "url") -> None:
        super().__init__()
        self.token = token
        self.next_style = next_style
        self.collections: dict[str, dict[str, Any]] = {}
        self.articles: dict[str, dict[str, Any]] = {}
        self.broken_pages: dict[int, Response] = {}  # /articles page number -> response, every time
        self.after_page: dict[int, Callable[[], None]] = {}  # /articles page number -> run once served
        self._ids = itertools.count(6871119)
        self._clock = itertools.count(OLD)

    # -- building the help center ---------------------------------------------------------------

    def add_collection(self, name: str, *, parent_id: str | None = None, translations: dict[str, str] | None = None) -> str:
        cid = str(next(self._ids))
        translated = {"type": "group_translated_content"}
        for locale, title in (translations or {}).items():
            translated[locale] = {"type": "group_content", "name": title, "description": ""}
        self.collections[cid] = {
            "id": cid, "workspace_id": "hfi1bx4l", "name": name, "description": None, "created_at": OLD,
            "updated_at": OLD, "url": f"https://help.acme.test/en/collections/{cid}-{name.lower()}", "icon": "book",
            "order": len(self.collections), "default_locale": "en", "translated_content": translated,
            "parent_id": parent_id, "help_center_id": 1,
        }
        return cid

    def add_article(self, translations: dict[str, dict[str, Any]], *, parent_id: str | None, author_id: int = 991267407,
                    default_locale: str = "en") -> dict[str, Any]:
        """`translations`: locale -> {"title", "body", "state"?}; the default locale's content is
        also the article's top-level content, as in the API."""
        aid = str(next(self._ids))
        stamp = next(self._clock)
        content = {
            locale: {
                "type": "article_content", "title": t["title"], "description": "", "body": t["body"],
                "author_id": author_id, "state": t.get("state", "published"), "created_at": stamp,
                "updated_at": stamp, "url": f"https://help.acme.test/{locale}/articles/{aid}-{t['title'].lower().replace(' ', '-')}",
            }
            for locale, t in translations.items()
        }
        main = content[default_locale]
        article = {
            "id": aid, "type": "article", "workspace_id": "hfi1bx4l", "parent_id": int(parent_id) if parent_id else None,
            "parent_type": "collection" if parent_id else None, "parent_ids": [int(parent_id)] if parent_id else [],
            "title": main["title"], "description": "", "body": main["body"], "author_id": author_id,
            "state": main["state"], "created_at": stamp, "updated_at": stamp, "url": main["url"],
            "default_locale": default_locale,
            "statistics": {"type": "article_statistics", "views": 0, "conversions": 0, "reactions": 0},
            "tags": {"type": "tag.list", "tags": []},
        }
        if len(translations) > 1:
            article["translated_content"] = {"type": "article_translated_content", **content}
        self.articles[aid] = article
        return article

    def edit_article(self, aid: str, locale: str, **changes: Any) -> None:
        """Edits one translation (and the top level for the default locale); it moves to the front."""
        article = self.articles[aid]
        stamp = next(self._clock) + 86400
        targets = []
        if "translated_content" in article:
            targets.append(article["translated_content"][locale])
        if locale == article["default_locale"]:
            targets.append(article)
        for target in targets:
            target.update(changes, updated_at=stamp)
        article["updated_at"] = stamp

    # -- auth -----------------------------------------------------------------------------------

    def before_route(self, req: Recorded) -> Response | None:
        early = super().before_route(req)
        if early is not None:
            return early
        if req.bearer_token != self.token:
            return json_response({"type": "error.list", "request_id": "000", "errors": [
                {"code": "unauthorized", "message": "Access Token Invalid"}]}, 401)
        return None

    # -- routes ---------------------------------------------------------------------------------

    @route("GET", "/articles")
    def list_articles(self, req: Recorded) -> Response:
        items = sorted(self.articles.values(), key=lambda a: (-a["updated_at"], a["id"]))
        body, page = self._page(req, items)
        if page in self.broken_pages:
            return self.broken_pages[page]
        hook = self.after_page.pop(page, None)
        if hook:
            hook()
        return json_response(body)

    @route("GET", "/help_center/collections")
    def list_collections(self, req: Recorded) -> Response:
        items = sorted(self.collections.values(), key=lambda c: (-c["updated_at"], c["id"]))
        return json_response(self._page(req, items)[0])

    def _page(self, req: Recorded, items: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
        per_page = min(int(req.query.get("per_page", 25)), 250)
        page = int(req.query.get("starting_after", req.query.get("page", 1)))
        total_pages = max(1, -(-len(items) // per_page))
        pages: dict[str, Any] = {"type": "pages", "page": page, "per_page": per_page, "total_pages": total_pages}
        if page < total_pages:
            if self.next_style == "url":
                pages["next"] = f"{self.url}{req.path}?{urlencode({'page': page + 1, 'per_page': per_page})}"
            else:
                pages["next"] = {"per_page": per_page, "starting_after": str(page + 1)}
        chunk = items[(page - 1) * per_page: page * per_page]
        return {"type": "list", "pages": pages, "total_count": len(items), "data": chunk}, page
