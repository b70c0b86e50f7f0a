"""The HTTP client every web connector shares: timeouts, retries with exponential backoff on
5xx/timeouts/connection errors, `Retry-After` honoured on 429 (and 503), redirects followed.

Credentials travel only in request headers (httpx's `auth` or a header given by the connector);
nothing here logs headers, and error messages name the URL without its userinfo.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any

import certifi
import httpx

from knowledge.errors import SourceError

log = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "supportbot/0.1 (+help-center sync)"


@dataclass(frozen=True)
class HttpOptions:
    """Transport settings from the composition root (Settings); the same for every connector."""

    timeout: float = 30.0
    retries: int = 3  # extra attempts after the first
    backoff: float = 0.5  # first retry waits this long, doubling each time
    max_wait: float = 60.0  # cap on any single wait, Retry-After included
    user_agent: str = DEFAULT_USER_AGENT
    crawl_delay: float = 1.0  # politeness pause between page fetches of a crawled site
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)


class HttpClient:
    """A small wrapper over `httpx.Client`. `get` retries what is worth retrying and returns any
    other response (404, 304, 401…) for the caller to interpret; `get_json` wants a 2xx."""

    def __init__(
        self,
        *,
        base_url: str = "",
        options: HttpOptions | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        service: str = "the source",
        auth_hint: str = "",
    ) -> None:
        self.options = options or HttpOptions()
        self.service = service
        self.auth_hint = auth_hint
        self._settings: dict[str, Any] = {
            "base_url": base_url,
            "headers": {"User-Agent": self.options.user_agent, **(headers or {})},
            "auth": auth,
            "timeout": self.options.timeout,
            "follow_redirects": True,  # httpx drops Authorization on cross-origin redirects
            "verify": _ssl_context(),
        }
        self._http: httpx.Client | None = None

    @property
    def _client(self) -> httpx.Client:
        # Built on first use: connectors are also built just to validate their options.
        if self._http is None:
            self._http = httpx.Client(**self._settings)
        return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def get(self, url: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """GET with retries; raises `SourceError` once the attempts are used up."""
        attempts = self.options.retries + 1
        for attempt in range(attempts):
            problem, wait = None, None
            try:
                response = self._client.get(url, params=params, headers=headers)
            except httpx.TimeoutException:
                problem = f"timed out after {self.options.timeout:g} s"
            except httpx.TransportError as exc:
                problem = f"connection failed ({type(exc).__name__})"
            except (httpx.RequestError, httpx.InvalidURL) as exc:  # undecodable body, bad URL: no retry helps
                raise SourceError(f"{self.service}: GET {safe_url(url)} failed: {type(exc).__name__}.") from exc
            else:
                if response.status_code == 429 or response.status_code >= 500:
                    problem = f"HTTP {response.status_code}"
                    wait = retry_after(response.headers.get("Retry-After"))
                else:
                    return response
            if attempt + 1 == attempts:
                break
            delay = min(wait if wait is not None else self.options.backoff * 2**attempt, self.options.max_wait)
            log.warning("%s: GET %s %s; retry %d/%d in %.1f s", self.service, safe_url(url), problem,
                        attempt + 1, self.options.retries, delay)
            self.options.sleep(delay)
        raise SourceError(f"{self.service}: GET {safe_url(url)} failed after {attempts} attempt(s): {problem}.")

    def get_json(self, url: str, *, params: Mapping[str, Any] | None = None) -> Any:
        response = self.get(url, params=params)
        if response.status_code in (401, 403):
            raise SourceError(
                f"{self.service} refused the request (HTTP {response.status_code}) for {safe_url(url)}. {self.auth_hint}".strip()
            )
        if not response.is_success:
            raise SourceError(f"{self.service}: GET {safe_url(url)} returned HTTP {response.status_code}.")
        try:
            return response.json()
        except ValueError as exc:
            raise SourceError(f"{self.service}: GET {safe_url(url)} did not return JSON.") from exc


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """httpx's default verification (certifi's CA bundle), built once: building one takes ~40 ms."""
    return ssl.create_default_context(cafile=certifi.where())


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date; None if absent/unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


def safe_url(url: str) -> str:
    """The URL without user:password@ (people do paste such base URLs)."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid URL>"
    return str(parsed.copy_with(userinfo=b"")) if parsed.userinfo else url
