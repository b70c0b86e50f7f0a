"""A fake public docs site on loopback: robots.txt, sitemap.xml (a plain urlset, a sitemap index,
or an index of indexes), and HTML pages wrapped in realistic boilerplate (navigation, cookie
banner, sidebar, footer, scripts). Pages answer conditional GETs with 304 (ETag / Last-Modified)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any
from xml.sax.saxutils import escape

from fakes.http import Recorded, Response, route
from fakes.scripted import ScriptedServer

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
BASE_TIME = datetime(2026, 1, 5, 9, 30, tzinfo=timezone.utc)

PAGE = """<!DOCTYPE html>
<html lang="{lang}">
<head><meta charset="utf-8"><title>{title} | Tandem Docs</title>
<style>body {{ font-family: sans-serif }} .cookie {{ position: fixed }}</style>
<script>window.analytics = {{ trackPageview: function () {{}} }}; analytics.trackPageview();</script></head>
<body>
<div class="cookie-banner" id="cookie-consent"><p>We use cookies to improve your experience.
<button>Accept all cookies</button> <button>Manage preferences</button></p></div>
<header class="site-header"><nav aria-label="Main"><ul>
<li><a href="/">Tandem</a></li><li><a href="/pricing">Pricing</a></li><li><a href="/customers">Customers</a></li>
<li><a href="/login">Log in</a></li><li><a href="/signup">Start free trial</a></li></ul></nav></header>
<aside class="sidebar"><nav aria-label="Docs"><ul>
<li><a href="/docs/getting-started">Getting started</a></li><li><a href="/docs/billing">Billing and invoices</a></li>
<li><a href="/docs/integrations">Integrations overview</a></li><li><a href="/docs/mobile">Mobile app</a></li></ul></nav></aside>
<main id="content"><article>
{main}
</article></main>
<footer class="site-footer"><p>© 2026 Tandem Inc. All rights reserved.</p>
<ul><li><a href="/privacy">Privacy policy</a></li><li><a href="/terms">Terms of service</a></li>
<li><a href="/status">System status</a></li></ul><p>Follow us on Mastodon and LinkedIn.</p></footer>
<script src="/static/app.js"></script><script>document.querySelectorAll('a').forEach(trackLink);</script>
</body></html>"""


class FakeDocsSite(ScriptedServer):
    def __init__(self, *, layout: str = "index", per_sitemap: int = 2, robots: str | None = None) -> None:
        super().__init__()
        self.layout = layout  # flat | index | nested
        self.per_sitemap = per_sitemap
        self.robots = robots  # None: 404, like most sites without one
        self.pages: dict[str, dict[str, Any]] = {}  # path -> page
        self.foreign_urls: list[str] = []  # listed in the sitemap but on another host
        self.broken: dict[str, Response] = {}  # path -> response, every time

    def add_page(self, path: str, title: str, main: str, *, lang: str = "en", lastmod: str | None = "2026-01-05",
                 listed: bool = True, content_type: str = "text/html; charset=utf-8") -> None:
        self.pages[path] = {"title": title, "main": main, "lang": lang, "lastmod": lastmod, "listed": listed,
                            "content_type": content_type, "modified": BASE_TIME}

    def edit_page(self, path: str, main: str, *, lastmod: str | None = None) -> None:
        page = self.pages[path]
        page["main"] = main
        page["modified"] = page["modified"] + timedelta(days=1)
        if lastmod is not None:
            page["lastmod"] = lastmod

    def html(self, path: str) -> str:
        page = self.pages[path]
        return PAGE.format(lang=page["lang"], title=escape(page["title"]), main=page["main"])

    def etag(self, path: str) -> str:
        return '"' + hashlib.sha1(self.html(path).encode()).hexdigest()[:16] + '"'

    # -- routes ---------------------------------------------------------------------------------

    @route("GET", "/robots.txt")
    def robots_txt(self, req: Recorded) -> Response:
        if self.robots is None:
            return 404, {"Content-Type": "text/html"}, "<h1>Not found</h1>"
        return 200, {"Content-Type": "text/plain"}, self.robots

    @route("GET", "/sitemap.xml")
    def root_sitemap(self, req: Recorded) -> Response:
        if req.path in self.broken:
            return self.broken[req.path]
        if self.layout == "flat":
            return self._urlset(self._listed())
        if self.layout == "nested":
            return self._index(["index-docs.xml"])
        return self._index(self._chunk_names())

    @route("GET", "/sitemaps/{name}")
    def child_sitemap(self, req: Recorded, name: str) -> Response:
        if req.path in self.broken:
            return self.broken[req.path]
        if name == "index-docs.xml":
            return self._index(self._chunk_names())
        n = int(name.removeprefix("docs-").removesuffix(".xml"))
        listed = self._listed()
        return self._urlset(listed[(n - 1) * self.per_sitemap: n * self.per_sitemap], foreign=n == 1)

    @route("GET", "/docs/{slug}")
    def page(self, req: Recorded, slug: str) -> Response:
        if req.path in self.broken:
            return self.broken[req.path]
        page = self.pages.get(req.path)
        if page is None:
            return 404, {"Content-Type": "text/html"}, "<h1>Not found</h1>"
        etag, modified = self.etag(req.path), format_datetime(page["modified"], usegmt=True)
        validators = {"ETag": etag, "Last-Modified": modified, "Cache-Control": "no-cache"}
        if req.headers.get("if-none-match") == etag:
            return 304, validators, b""
        since = req.headers.get("if-modified-since")
        if since and "if-none-match" not in req.headers and parsedate_to_datetime(since) >= page["modified"]:
            return 304, validators, b""
        return 200, {"Content-Type": page["content_type"], **validators}, self.html(req.path)

    # -- sitemap XML ----------------------------------------------------------------------------

    def _listed(self) -> list[str]:
        return [path for path, page in self.pages.items() if page["listed"]]

    def _chunk_names(self) -> list[str]:
        count = max(1, -(-len(self._listed()) // self.per_sitemap))
        return [f"docs-{n}.xml" for n in range(1, count + 1)]

    def _index(self, names: list[str]) -> Response:
        entries = "".join(
            f"<sitemap><loc>{self.url}/sitemaps/{name}</loc><lastmod>2026-01-05T09:30:00+00:00</lastmod></sitemap>"
            for name in names
        )
        return self._xml(f'<sitemapindex xmlns="{NS}">{entries}</sitemapindex>')

    def _urlset(self, paths: list[str], *, foreign: bool = True) -> Response:
        entries = []
        for path in paths:
            lastmod = self.pages[path]["lastmod"]
            entries.append(f"<url><loc>{escape(self.url + path)}</loc>"
                           + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "")
                           + "<changefreq>weekly</changefreq></url>")
        if foreign:
            entries += [f"<url><loc>{escape(url)}</loc></url>" for url in self.foreign_urls]
        return self._xml(f'<urlset xmlns="{NS}">{"".join(entries)}</urlset>')

    @staticmethod
    def _xml(body: str) -> Response:
        return 200, {"Content-Type": "application/xml"}, '<?xml version="1.0" encoding="UTF-8"?>\n' + body
