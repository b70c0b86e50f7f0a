"""Help-center connectors. `open_source` turns a stored source row into a connector."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from knowledge.errors import ConfigurationError
from knowledge.sources.base import Source
from knowledge.sources.folder import FolderSource

# kind -> (factory(options, secrets), required option names)
Factory = Callable[[Mapping[str, Any], Mapping[str, str]], Source]
KINDS: dict[str, tuple[Factory, tuple[str, ...]]] = {
    "folder": (lambda options, _secrets: FolderSource(path=options["path"]), ("path",)),
}


def validate_options(kind: str, options: Mapping[str, Any]) -> None:
    if kind not in KINDS:
        raise ConfigurationError(f"Unknown source kind {kind!r}; choose one of: {', '.join(sorted(KINDS))}.")
    missing = [name for name in KINDS[kind][1] if not options.get(name)]
    if missing:
        raise ConfigurationError(f"A {kind} source needs: {', '.join('--' + m.replace('_', '-') for m in missing)}.")


def open_source(kind: str, options: Mapping[str, Any], *, secrets: Mapping[str, str]) -> Source:
    validate_options(kind, options)
    return KINDS[kind][0](options, secrets)
