"""Main content of a web page as Markdown (headings kept; navigation, footers, scripts dropped),
with trafilatura doing the boilerplate removal."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from knowledge.sources.base import DocumentError


@dataclass(frozen=True)
class Page:
    title: str | None
    body: str
    language: str | None


@lru_cache(maxsize=1)
def _config():
    from trafilatura.settings import use_config

    config = use_config()
    # Help articles are often short; below this size trafilatura would fall back to whole-page text.
    config.set("DEFAULT", "MIN_EXTRACTED_SIZE", "20")
    return config


def extract_page(html: str | bytes, *, url: str | None = None) -> Page:
    import trafilatura
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is None:
        raise DocumentError("unreadable HTML")
    # Language and title first: extraction prunes the tree in place.
    language = (tree.get("lang") or "").strip() or None
    title = (trafilatura.extract_metadata(tree).title or "").strip() or None
    body = trafilatura.extract(
        tree,
        url=url,
        output_format="markdown",
        include_formatting=True,
        include_tables=True,
        include_links=False,
        include_images=False,
        include_comments=False,
        config=_config(),
    )
    if not body or not body.strip():
        raise DocumentError("no main content found on the page")
    return Page(title=title, body=body.strip(), language=language)
