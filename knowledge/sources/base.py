"""The contract between help-center connectors and the sync pipeline.

A connector lists document references (cheap: id + a version marker) and fetches the documents
the pipeline asks for. The pipeline decides what changed, and it deletes only after a listing that
was both `full` and iterated to the end without a `SourceError`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


class DocumentError(Exception):
    """One document cannot be used (bad encoding, empty, too large…). It is skipped with this reason."""


class NotModified(Exception):
    """Raised by `fetch` when the source says the stored copy is current (e.g. HTTP 304 to a
    conditional request built from `DocumentRef.previous`). The document counts as unchanged."""


@dataclass(frozen=True)
class DocumentRef:
    external_id: str
    # Changes whenever the document changes (updated_at, ETag, lastmod…); None = unknown, always fetch.
    version: str | None = None
    # Connectors whose listing already carries the content keep it here so `fetch` needs no request.
    payload: Any = field(default=None, compare=False, repr=False)
    # Set by the pipeline, not the connector: the `meta` stored by the last sync of this document
    # (e.g. ETag/Last-Modified), so `fetch` can ask "changed since?". None on full syncs.
    previous: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass
class SourceDocument:
    external_id: str
    title: str
    body: str  # Markdown-ish text with headings
    url: str | None = None
    locale: str | None = None
    status: str = "published"  # published | draft
    internal: bool = False  # visible only to signed-in/agent segments
    labels: list[str] = field(default_factory=list)
    owner: str | None = None
    breadcrumb: str | None = None  # e.g. "Billing › Plans" from the help center's own hierarchy
    updated_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Listing:
    refs: Iterator[DocumentRef]
    # True when iterating `refs` to the end enumerates every document of the source, so anything
    # missing was deleted. Incremental listings (changed since T) are not full. Read after the last
    # ref: a connector that finds out mid-way that it missed some (a list that shifted under
    # pagination) sets it to False.
    full: bool = True


class Source(Protocol):
    def listing(self, *, since: datetime | None = None) -> Listing:
        """References to documents; raises `SourceError` (possibly midway) when listing fails."""
        ...

    def fetch(self, ref: DocumentRef) -> SourceDocument:
        """The document; raises `DocumentError` to skip just this one, `SourceError` if the source is
        down, `NotModified` when `ref.previous` is still current."""
        ...

    def close(self) -> None:
        """Release connections; called once the sync is done."""
        ...
