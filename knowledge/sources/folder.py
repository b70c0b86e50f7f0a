"""`folder` source: Markdown and HTML files with optional YAML front matter."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import frontmatter
import yaml

from knowledge.errors import SourceError
from knowledge.sources.base import DocumentError, DocumentRef, Listing, SourceDocument
from knowledge.text import decode_utf8, first_heading, html_to_markdown, parse_datetime

SUFFIXES = {".md", ".markdown", ".html", ".htm"}
DEFAULT_MAX_BYTES = 2_000_000


class FolderSource:
    def __init__(self, *, path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(path).expanduser()
        self.max_bytes = max_bytes

    def listing(self, *, since=None) -> Listing:  # noqa: ANN001 - a folder is always listed in full
        if not self.root.is_dir():
            raise SourceError(f"Folder {self.root} does not exist or is not a directory.")
        return Listing(self._walk(), full=True)

    def _walk(self) -> Iterator[DocumentRef]:
        for dirpath, dirnames, filenames in os.walk(self.root, onerror=self._raise):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if path.suffix.lower() not in SUFFIXES or name.startswith("."):
                    continue
                try:
                    stat = path.stat()
                except OSError as exc:
                    raise SourceError(f"Cannot read {path}: {exc}") from exc
                rel = path.relative_to(self.root).as_posix()
                # The version is cheap (size + mtime); the content hash decides what really changed.
                yield DocumentRef(rel, version=f"{stat.st_size}:{stat.st_mtime_ns}", payload=path)

    def close(self) -> None:
        pass  # nothing held open between files

    @staticmethod
    def _raise(exc: OSError) -> None:
        raise SourceError(f"Listing the folder failed: {exc}")

    def fetch(self, ref: DocumentRef) -> SourceDocument:
        path: Path = ref.payload or self.root / ref.external_id
        try:
            if path.stat().st_size > self.max_bytes:
                raise DocumentError(f"too large ({path.stat().st_size:,} bytes; limit {self.max_bytes:,})")
            raw = path.read_bytes()
        except OSError as exc:
            raise DocumentError(f"unreadable: {exc}") from exc
        text = decode_utf8(raw)
        try:
            post = frontmatter.loads(text)
        except (yaml.YAMLError, ValueError) as exc:
            raise DocumentError(f"invalid YAML front matter: {exc}") from exc
        meta = dict(post.metadata)
        body = post.content
        if path.suffix.lower() in {".html", ".htm"}:
            body = html_to_markdown(body)
        if not body.strip():
            raise DocumentError("empty document (no text)")
        title = str(meta.get("title") or first_heading(body) or path.stem.replace("-", " ").title())
        labels = meta.get("labels") or []
        if isinstance(labels, str):
            labels = [s.strip() for s in labels.split(",") if s.strip()]
        status = str(meta.get("status", "published")).lower()
        if status not in {"published", "draft"}:
            raise DocumentError(f"unknown status {status!r} (use published or draft)")
        extra = {k: v for k, v in meta.items() if k in {"review_interval", "verified_at"}}
        return SourceDocument(
            external_id=str(meta.get("id") or ref.external_id),
            title=title.strip(),
            body=body,
            url=meta.get("url"),
            locale=meta.get("locale"),
            status=status,
            internal=bool(meta.get("internal", False)),
            labels=[str(label) for label in labels],
            owner=meta.get("owner"),
            updated_at=parse_datetime(meta.get("updated_at")),
            meta={k: str(v) for k, v in extra.items()},
        )
