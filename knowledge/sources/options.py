"""Reading connector options (stored as strings from `sources add -o KEY=VALUE`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from knowledge.errors import ConfigurationError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# Option keys that name a credential: such values belong in the environment, never in the table.
_CREDENTIAL = re.compile(r"(^|_)(token|password|passwd|pwd|secret|api_?key|access_?key|private_?key|credentials?)($|_)")


def looks_like_credential(key: str) -> bool:
    return bool(_CREDENTIAL.search(key.lower().replace("-", "_")))


def reject_unknown(kind: str, options: Mapping[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigurationError(
            f"Unknown option(s) for a {kind} source: {', '.join(unknown)}. Known: {', '.join(sorted(allowed))}."
        )


def bool_option(options: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = options.get(key, default)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(f"Option {key} must be true or false, got {value!r}.")


def int_option(options: Mapping[str, Any], key: str, default: int, *, minimum: int = 1) -> int:
    value = options.get(key, default)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"Option {key} must be a whole number, got {value!r}.") from None
    if number < minimum:
        raise ConfigurationError(f"Option {key} must be at least {minimum}, got {number}.")
    return number


def list_option(options: Mapping[str, Any], key: str) -> list[str]:
    """A comma-separated option (or a list, when options come from code)."""
    value = options.get(key)
    if not value:
        return []
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def url_option(options: Mapping[str, Any], key: str) -> str:
    value = str(options.get(key) or "").strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigurationError(f"Option {key} must be an http(s) URL, got {value!r}.")
    return value
