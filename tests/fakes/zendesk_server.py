"""Fake Zendesk Guide (Help Center API) on loopback, with the real JSON shapes.

Serves categories, sections and articles (per locale or default) with cursor pagination
(`page[size]`, `page[after]` → `meta.has_more`/`meta.after_cursor`, `links.next`), the `users`
sideload, the incremental article export (`start_time` → `next_page`, `end_time`, `count`), and
checks basic (`{email}/token:{api_token}`) or bearer auth.
"""

from __future__ import annotations

import base64
import itertools
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from fakes.http import Recorded, Response, json_response, route
from fakes.scripted import ScriptedServer

OLD = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeZendesk(ScriptedServer):
    def __init__(self, *, email: str | None = None, api_token: str | None = None, oauth_token: str | None = None,
                 incremental_page_size: int = 1000) -> None:
        super().__init__()
        self.email, self.api_token, self.oauth_token = email, api_token, oauth_token
        self.incremental_page_size = incremental_page_size
        self.categories: dict[int, dict[str, Any]] = {}
        self.sections: dict[int, dict[str, Any]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.articles: dict[tuple[int, str], dict[str, Any]] = {}  # (id, locale) -> article
        self.broken_pages: dict[int, Response] = {}  # articles page number -> response, every time
        self._ids = itertools.count(360001000001)

    # -- building the help center ---------------------------------------------------------------

    def add_user(self, name: str, email: str) -> int:
        uid = next(self._ids)
        self.users[uid] = {"id": uid, "url": f"{self._api}/users/{uid}.json", "name": name, "email": email,
                           "role": "agent", "active": True}
        return uid

    def add_category(self, names: dict[str, str]) -> int:
        cid = next(self._ids)
        self.categories[cid] = {"id": cid, "names": names}
        return cid

    def add_section(self, names: dict[str, str], category_id: int, parent_section_id: int | None = None) -> int:
        sid = next(self._ids)
        self.sections[sid] = {"id": sid, "names": names, "category_id": category_id, "parent_section_id": parent_section_id}
        return sid

    def add_article(self, title: str, body: str, *, section_id: int, author_id: int, locale: str = "en-us",
                    article_id: int | None = None, draft: bool = False, user_segment_id: int | None = None,
                    labels: tuple[str, ...] = (), updated_at: datetime = OLD) -> dict[str, Any]:
        aid = article_id or next(self._ids)
        slug = "-".join(title.split())
        article = {
            "id": aid,
            "url": f"{self._api}/help_center/{locale}/articles/{aid}.json",
            "html_url": f"https://acme.zendesk.com/hc/{locale}/articles/{aid}-{slug}",
            "author_id": author_id,
            "comments_disabled": False,
            "draft": draft,
            "promoted": False,
            "position": 0,
            "vote_sum": 0,
            "vote_count": 0,
            "section_id": section_id,
            "created_at": iso(OLD - timedelta(days=30)),
            "updated_at": iso(updated_at),
            "edited_at": iso(updated_at),
            "name": title,
            "title": title,
            "source_locale": "en-us",
            "locale": locale,
            "outdated": False,
            "outdated_locales": [],
            "permission_group_id": 360000000001,
            "user_segment_id": user_segment_id,
            "user_segment_ids": [user_segment_id] if user_segment_id else [],
            "content_tag_ids": [],
            "label_names": list(labels),
            "body": body,
        }
        self.articles[(aid, locale)] = article
        return article

    def edit_article(self, article_id: int, locale: str = "en-us", *, updated_at: datetime | None = None,
                     **changes: Any) -> None:
        article = self.articles[(article_id, locale)]
        article.update(changes)
        article["updated_at"] = article["edited_at"] = iso(updated_at or datetime.now(timezone.utc))

    def delete_article(self, article_id: int) -> None:
        for key in [k for k in self.articles if k[0] == article_id]:
            del self.articles[key]

    @property
    def _api(self) -> str:
        return "https://acme.zendesk.com/api/v2"

    # -- auth -----------------------------------------------------------------------------------

    def before_route(self, req: Recorded) -> Response | None:
        early = super().before_route(req)
        if early is not None:
            return early
        auth = req.headers.get("authorization", "")
        if self.oauth_token and auth == f"Bearer {self.oauth_token}":
            return None
        if self.api_token:
            expected = base64.b64encode(f"{self.email}/token:{self.api_token}".encode()).decode()
            if auth == f"Basic {expected}":
                return None
        if self.oauth_token or self.api_token:
            return json_response({"error": "Couldn't authenticate you"}, 401)
        return None

    # -- routes (the incremental one first: `{locale}` would match "incremental") ------------------

    @route("GET", "/api/v2/help_center/incremental/articles.json")
    def incremental(self, req: Recorded) -> Response:
        start = int(req.query["start_time"])
        changed = sorted(
            (a for a in self.articles.values() if _epoch(a["updated_at"]) >= start),
            key=lambda a: (_epoch(a["updated_at"]), a["id"]),
        )
        page = changed[: self.incremental_page_size]
        end = _epoch(page[-1]["updated_at"]) if page else start
        more = len(changed) > len(page)
        body: dict[str, Any] = {
            "articles": page,
            "next_page": f"{self.url}{req.path}?{urlencode({'start_time': end})}" if more else None,
            "count": len(page),
            "end_time": end,
        }
        if req.query.get("include") == "users":
            body["users"] = self._users_for(page)
        return json_response(body)

    @route("GET", "/api/v2/help_center/articles.json")
    def articles_default(self, req: Recorded) -> Response:
        return self.list_articles(req, locale="en-us")

    @route("GET", "/api/v2/help_center/{locale}/articles.json")
    def list_articles(self, req: Recorded, locale: str) -> Response:
        items = sorted((a for (aid, loc), a in self.articles.items() if loc == locale), key=lambda a: a["id"])
        body, page_no = self._page(req, "articles", items)
        if page_no in self.broken_pages:
            return self.broken_pages[page_no]
        if req.query.get("include") == "users":
            body["users"] = self._users_for(body["articles"])
        return json_response(body)

    @route("GET", "/api/v2/help_center/sections.json")
    def sections_default(self, req: Recorded) -> Response:
        return self.list_sections(req, locale="en-us")

    @route("GET", "/api/v2/help_center/{locale}/sections.json")
    def list_sections(self, req: Recorded, locale: str) -> Response:
        items = [
            {"id": s["id"], "url": f"{self._api}/help_center/{locale}/sections/{s['id']}.json",
             "html_url": f"https://acme.zendesk.com/hc/{locale}/sections/{s['id']}", "category_id": s["category_id"],
             "parent_section_id": s["parent_section_id"], "position": 0, "sorting": "manual",
             "created_at": iso(OLD), "updated_at": iso(OLD), "name": s["names"].get(locale, s["names"]["en-us"]),
             "description": "", "locale": locale, "source_locale": "en-us", "outdated": False, "theme_template": "section_page"}
            for s in self.sections.values()
        ]
        return json_response(self._page(req, "sections", items)[0])

    @route("GET", "/api/v2/help_center/categories.json")
    def categories_default(self, req: Recorded) -> Response:
        return self.list_categories(req, locale="en-us")

    @route("GET", "/api/v2/help_center/{locale}/categories.json")
    def list_categories(self, req: Recorded, locale: str) -> Response:
        items = [
            {"id": c["id"], "url": f"{self._api}/help_center/{locale}/categories/{c['id']}.json",
             "html_url": f"https://acme.zendesk.com/hc/{locale}/categories/{c['id']}", "position": 0,
             "created_at": iso(OLD), "updated_at": iso(OLD), "name": c["names"].get(locale, c["names"]["en-us"]),
             "description": "", "locale": locale, "source_locale": "en-us", "outdated": False}
            for c in self.categories.values()
        ]
        return json_response(self._page(req, "categories", items)[0])

    # -- helpers --------------------------------------------------------------------------------

    def _page(self, req: Recorded, key: str, items: list[dict[str, Any]]) -> tuple[dict[str, Any], int]:
        size = min(int(req.query.get("page[size]", 30)), 100)
        after = req.query.get("page[after]")
        offset = int(base64.urlsafe_b64decode(after).decode().removeprefix("o:")) if after else 0
        chunk = items[offset: offset + size]
        more = offset + size < len(items)
        cursor = base64.urlsafe_b64encode(f"o:{offset + size}".encode()).decode() if more else None
        before = base64.urlsafe_b64encode(f"o:{offset}".encode()).decode() if offset else None
        query = {k: v for k, v in req.query.items() if k != "page[after]"}
        body = {
            key: chunk,
            "meta": {"has_more": more, "after_cursor": cursor, "before_cursor": before},
            "links": {
                "first": f"{self.url}{req.path}?{urlencode(query)}",
                "last": None,
                "next": f"{self.url}{req.path}?{urlencode({**query, 'page[after]': cursor})}" if more else None,
                "prev": None,
            },
        }
        return body, offset // size + 1

    def _users_for(self, articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = {a["author_id"] for a in articles}
        return [u for uid, u in self.users.items() if uid in ids]


def _epoch(stamp: str) -> int:
    return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp())
