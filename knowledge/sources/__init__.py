"""Help-center connectors. `open_source` turns a stored source row into a connector."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from knowledge.errors import ConfigurationError
from knowledge.sources.base import Source
from knowledge.sources.folder import FolderSource
from knowledge.sources.http import HttpOptions
from knowledge.sources.intercom import open_intercom
from knowledge.sources.options import looks_like_credential
from knowledge.sources.policy import split_options, validate_policy
from knowledge.sources.sitemap import open_sitemap
from knowledge.sources.zendesk import open_zendesk

# kind -> (factory(options, secrets, http), required option names). Factories only build objects
# (no network), so `validate_options` can build one to check the option values.
Factory = Callable[[Mapping[str, Any], Mapping[str, str], HttpOptions], Source]
KINDS: dict[str, tuple[Factory, tuple[str, ...]]] = {
    "folder": (lambda options, _secrets, _http: FolderSource(path=options["path"]), ("path",)),
    "zendesk": (open_zendesk, ()),  # subdomain or base_url: checked by the factory
    "intercom": (open_intercom, ()),
    "sitemap": (open_sitemap, ("url",)),
}
# Where each kind's credentials come from instead (see bot/settings.py).
CREDENTIAL_ENV = {
    "zendesk": "ZENDESK_EMAIL + ZENDESK_API_TOKEN, or ZENDESK_OAUTH_TOKEN",
    "intercom": "INTERCOM_ACCESS_TOKEN",
}


def _check_required(kind: str, options: Mapping[str, Any]) -> None:
    if kind not in KINDS:
        raise ConfigurationError(f"Unknown source kind {kind!r}; choose one of: {', '.join(sorted(KINDS))}.")
    missing = [name for name in KINDS[kind][1] if not options.get(name)]
    if missing:
        flags = ["--path" if m == "path" else f"-o {m}=..." for m in missing]
        raise ConfigurationError(f"A {kind} source needs: {', '.join(flags)}.")


def validate_options(kind: str, options: Mapping[str, Any]) -> None:
    """Before a source is stored: known kind, required options present and valid, no credentials."""
    _check_required(kind, options)
    secret = [key for key in options if looks_like_credential(key)]
    if secret:
        where = CREDENTIAL_ENV.get(kind, "the environment variable for it (see README, Help-center sources)")
        raise ConfigurationError(
            f"Option {', '.join(secret)} looks like a credential; credentials are never stored with a source. "
            f"Set {where} in the environment (or .env) instead."
        )
    connector, policy = split_options(options)
    validate_policy(policy)
    KINDS[kind][0](connector, {}, HttpOptions())


def open_source(
    kind: str, options: Mapping[str, Any], *, secrets: Mapping[str, str], http: HttpOptions | None = None
) -> Source:
    _check_required(kind, options)
    connector, _policy = split_options(options)  # refresh/stale options are not the connector's
    return KINDS[kind][0](connector, secrets, http or HttpOptions())
