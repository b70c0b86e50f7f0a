"""Per-source operating options: how often a source is refreshed and when its documents go stale.

They are stored with the connector options (`sources add -o refresh_minutes=30`) because they
belong to the source, but only the knowledge base reads them: `split_options` keeps them away
from connectors, which reject options they do not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from knowledge.errors import ConfigurationError
from knowledge.sources.options import bool_option, int_option

POLICY_OPTIONS = ("refresh_minutes", "full_refresh_hours", "review_interval", "stale_downvotes", "check_links")

_INTERVAL = re.compile(r"^\s*(\d+)\s*(d|day|days|w|week|weeks|m|month|months|y|year|years)?\s*$", re.IGNORECASE)
_UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}


def split_options(options: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(connector options, policy options)."""
    connector = {k: v for k, v in options.items() if k not in POLICY_OPTIONS}
    policy = {k: v for k, v in options.items() if k in POLICY_OPTIONS}
    return connector, policy


def validate_policy(options: Mapping[str, Any]) -> None:
    """Fail at `sources add` rather than at the first scheduled run."""
    if "refresh_minutes" in options:
        int_option(options, "refresh_minutes", 60, minimum=5)
    if "full_refresh_hours" in options:
        full_refresh_hours(options)
    if "review_interval" in options:
        interval_days(options["review_interval"])
    if "stale_downvotes" in options:
        int_option(options, "stale_downvotes", 3, minimum=0)
    if "check_links" in options:
        bool_option(options, "check_links")


def refresh_minutes(options: Mapping[str, Any], *, default: int) -> int:
    return int_option(options, "refresh_minutes", default, minimum=5)


def full_refresh_hours(options: Mapping[str, Any]) -> int | None:
    """How often to list the source completely (so deletions are noticed); None: never on a schedule.

    Worth setting where the regular refresh is incremental (Zendesk): only a complete listing
    tombstones what was deleted at the source."""
    if not options.get("full_refresh_hours"):
        return None
    return int_option(options, "full_refresh_hours", 24, minimum=1)


def interval_days(value: Any) -> int:
    """A review interval: days as a number, or with a unit (`90`, `90d`, `12w`, `6m`, `1y`)."""
    match = _INTERVAL.match(str(value))
    if not match or int(match.group(1)) < 1:
        raise ConfigurationError(f"A review interval is a number of days or e.g. 12w, 6m, 1y; got {value!r}.")
    unit = (match.group(2) or "d")[0].lower()
    return int(match.group(1)) * _UNIT_DAYS[unit]
