"""Small builders shared by tests."""

from __future__ import annotations

from pathlib import Path

import yaml

from knowledge.catalog import add_source
from knowledge.sources import open_source
from knowledge.sync import sync_source


def write_doc(folder: Path, name: str, body: str, **front) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    head = f"---\n{yaml.safe_dump(front, sort_keys=False)}---\n\n" if front else ""
    path.write_text(head + body, encoding="utf-8")
    return path


def add_folder_source(sessions, name: str, folder: Path) -> None:
    with sessions.begin() as session:
        add_source(session, name, "folder", {"path": str(folder)})


def sync(sessions, name: str, embedder, **kwargs):
    return sync_source(
        sessions, name, embedder=embedder,
        open_source=lambda row: open_source(row.kind, row.options, secrets={}), **kwargs,
    )


def sync_with(sessions, name: str, embedder, *, secrets=None, http=None, **kwargs):
    """Sync through the real connector registry, with the credentials and HTTP options the
    composition root would hand over."""
    return sync_source(
        sessions, name, embedder=embedder,
        open_source=lambda row: open_source(row.kind, row.options, secrets=secrets or {}, http=http), **kwargs,
    )


def add_source_row(sessions, name: str, kind: str, options: dict) -> None:
    with sessions.begin() as session:
        add_source(session, name, kind, options)
