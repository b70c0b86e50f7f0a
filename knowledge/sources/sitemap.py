"""`sitemap` source: a public docs site, crawled politely from its sitemap.xml.

Listing reads the sitemap (and nested sitemap indexes, up to `max_sitemaps`), keeps the page URLs
on the sitemap's host that pass the include/exclude patterns and robots.txt, up to `max_pages`;
`lastmod` is the version, so unchanged pages are not even requested on incremental syncs. Fetching
is a conditional GET (the ETag / Last-Modified stored with the page; 304 → unchanged) after a
politeness pause, then main-content extraction. A page that fails is skipped; a sitemap or a
robots.txt that cannot be read fails the listing (so nothing is deleted).
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit
from urllib.robotparser import RobotFileParser

from lxml import etree

from knowledge.errors import ConfigurationError, SourceError
from knowledge.sources.base import (
    DocumentError,
    DocumentRef,
    Listing,
    NotModified,
    SourceDocument,
)
from knowledge.sources.http import HttpClient, HttpOptions, safe_url
from knowledge.sources.options import int_option, reject_unknown, url_option
from knowledge.sources.webpage import extract_page
from knowledge.text import first_heading, parse_datetime

log = logging.getLogger(__name__)

OPTIONS = ("url", "include", "exclude", "max_pages", "max_sitemaps")
MAX_SITEMAP_BYTES = 50_000_000  # the sitemap protocol's limit (uncompressed)
MAX_PAGE_BYTES = 2_000_000
MAX_CRAWL_DELAY = 30.0  # a robots.txt Crawl-delay above this would make a sync take days
MAX_FAILURES_IN_A_ROW = 10  # then the site is down, not just one page: stop the run
_XML = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


class SitemapSource:
    def __init__(
        self,
        *,
        url: str,
        include: str | None = None,
        exclude: str | None = None,
        max_pages: int = 1000,
        max_sitemaps: int = 50,
        http: HttpOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sitemap_url = url
        self.include = _regex("include", include)
        self.exclude = _regex("exclude", exclude)
        self.max_pages = max_pages
        self.max_sitemaps = max_sitemaps
        self.http = http or HttpOptions()
        self.client = HttpClient(options=self.http, service="Sitemap")
        self.clock = clock
        parts = urlsplit(url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.delay = self.http.crawl_delay
        self._last_fetch: float | None = None
        self._failures = 0

    # -- listing ---------------------------------------------------------------------------------

    def close(self) -> None:
        self.client.close()

    def listing(self, *, since: datetime | None = None) -> Listing:  # noqa: ARG002 - a sitemap lists everything
        return Listing(self._walk(), full=True)

    def _walk(self) -> Iterator[DocumentRef]:
        robots = self._robots()
        queue, visited, pages = deque([self.sitemap_url]), set(), set()
        while queue:
            sitemap = queue.popleft()
            if sitemap in visited:
                continue
            if len(visited) >= self.max_sitemaps:
                log.warning("sitemap: stopped after %d sitemaps (max_sitemaps); %s and others not read", self.max_sitemaps, sitemap)
                return
            visited.add(sitemap)
            kind, entries = self._read_sitemap(sitemap)
            if kind == "sitemapindex":
                queue.extend(loc for loc, _ in entries)
                continue
            for loc, lastmod in entries:
                if loc in pages or not self._wanted(loc, robots):
                    continue
                pages.add(loc)
                yield DocumentRef(loc, version=lastmod)
                if len(pages) >= self.max_pages:
                    log.info("sitemap: reached max_pages=%d", self.max_pages)
                    return

    def _wanted(self, url: str, robots: RobotFileParser) -> bool:
        if not url.startswith(self.origin + "/") and url != self.origin:
            return False  # the sitemap protocol allows only URLs of its own host
        if self.include and not self.include.search(url):
            return False
        if self.exclude and self.exclude.search(url):
            return False
        if not robots.can_fetch(self.http.user_agent, url):
            log.info("sitemap: robots.txt disallows %s", url)
            return False
        return True

    def _robots(self) -> RobotFileParser:
        parser = RobotFileParser(self.origin + "/robots.txt")
        response = self.client.get(self.origin + "/robots.txt")  # SourceError when unreachable: crawl nothing
        if response.status_code in (401, 403):
            parser.disallow_all = True  # the same reading as urllib.robotparser's own `read`
        elif 400 <= response.status_code < 500:
            parser.allow_all = True
        elif response.is_success:
            parser.parse(response.text.splitlines())
        else:
            raise SourceError(f"robots.txt at {self.origin} returned HTTP {response.status_code}.")
        crawl_delay = parser.crawl_delay(self.http.user_agent)
        if crawl_delay:
            self.delay = max(self.delay, min(float(crawl_delay), MAX_CRAWL_DELAY))
        return parser

    def _read_sitemap(self, url: str) -> tuple[str, list[tuple[str, str | None]]]:
        response = self.client.get(url)
        if not response.is_success:
            raise SourceError(f"Sitemap {safe_url(url)} returned HTTP {response.status_code}.")
        data = response.content
        if data[:2] == b"\x1f\x8b":  # sitemap.xml.gz served as a file, not as Content-Encoding
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as unzipped:
                data = unzipped.read(MAX_SITEMAP_BYTES + 1)
        if len(data) > MAX_SITEMAP_BYTES:
            raise SourceError(f"Sitemap {safe_url(url)} is larger than {MAX_SITEMAP_BYTES:,} bytes.")
        try:
            root = etree.fromstring(data, parser=_XML)
        except etree.XMLSyntaxError as exc:
            raise SourceError(f"Sitemap {safe_url(url)} is not valid XML: {exc}") from exc
        kind = etree.QName(root).localname
        if kind not in ("urlset", "sitemapindex"):
            raise SourceError(f"{safe_url(url)} is not a sitemap (root element <{kind}>).")
        entries = []
        for item in root:
            if not isinstance(item.tag, str):
                continue  # comments, processing instructions
            fields = {etree.QName(child).localname: (child.text or "").strip() for child in item if isinstance(child.tag, str)}
            if fields.get("loc"):
                entries.append((urldefrag(urljoin(url, fields["loc"]))[0], fields.get("lastmod") or None))
        return kind, entries

    # -- documents -------------------------------------------------------------------------------

    def fetch(self, ref: DocumentRef) -> SourceDocument:
        url = ref.external_id
        conditional = _validators(ref.previous or {})
        self._pause()
        try:
            response = self.client.get(url, headers=conditional)
        except SourceError as exc:
            self._failures += 1
            if self._failures >= MAX_FAILURES_IN_A_ROW:
                raise SourceError(f"{self._failures} pages in a row failed; the site looks down. Last: {exc}") from exc
            raise DocumentError(str(exc)) from exc
        finally:
            self._last_fetch = self.clock()
        self._failures = 0
        if response.status_code == 304 and conditional:
            raise NotModified()
        if not response.is_success:
            raise DocumentError(f"HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "")
        if "html" not in content_type.lower():
            raise DocumentError(f"not an HTML page ({content_type or 'no content type'})")
        if len(response.content) > MAX_PAGE_BYTES:
            raise DocumentError(f"too large ({len(response.content):,} bytes; limit {MAX_PAGE_BYTES:,})")
        page = extract_page(response.content, url=str(response.url))  # bytes: the parser finds the charset
        last_modified = response.headers.get("last-modified")
        return SourceDocument(
            external_id=url,
            title=page.title or first_heading(page.body, max_level=2) or url,
            body=page.body,
            url=str(response.url),
            locale=page.language,
            updated_at=_date(ref.version) or _date(last_modified),
            meta={k: v for k, v in {"etag": response.headers.get("etag"), "last_modified": last_modified}.items() if v},
        )

    def _pause(self) -> None:
        """Keep `delay` seconds between the end of one page request and the start of the next."""
        if self._last_fetch is not None:
            wait = self.delay - (self.clock() - self._last_fetch)
            if wait > 0:
                self.http.sleep(wait)


def _validators(previous: Mapping[str, Any]) -> dict[str, str]:
    headers = {}
    if previous.get("etag"):
        headers["If-None-Match"] = str(previous["etag"])
    if previous.get("last_modified"):
        headers["If-Modified-Since"] = str(previous["last_modified"])
    return headers


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_datetime(value)  # lastmod: W3C datetime
    except DocumentError:
        pass
    try:
        return parsedate_to_datetime(value)  # Last-Modified: HTTP date
    except (TypeError, ValueError):
        return None


def _regex(name: str, pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigurationError(f"Option {name} is not a valid regular expression: {exc}.") from None


def open_sitemap(options: Mapping[str, Any], _secrets: Mapping[str, str], http: HttpOptions) -> SitemapSource:
    reject_unknown("sitemap", options, OPTIONS)
    return SitemapSource(
        url=url_option(options, "url"),
        include=options.get("include") or None,
        exclude=options.get("exclude") or None,
        max_pages=int_option(options, "max_pages", 1000),
        max_sitemaps=int_option(options, "max_sitemaps", 50),
        http=http,
    )
