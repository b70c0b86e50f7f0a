"""The configuration reference, generated from `Settings` (docs/configuration.md; a test keeps
the committed file in sync: regenerate with `supportbot config-doc > docs/configuration.md`)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from bot.settings import Settings

HEADER = """# Configuration reference

Every setting is an environment variable (or a line in `.env`); names are case-insensitive.
Values are validated at start: a wrong one stops the process with a message naming the variable.
Generated from `bot/settings.py` by `supportbot config-doc`; do not edit by hand.

| variable | default | meaning |
|---|---|---|
"""


def _default(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "doc_default" in extra:
        return str(extra["doc_default"])
    value: Any = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value) if value else "empty"
    return str(value) if str(value) != "" else "empty"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_reference() -> str:
    rows = [
        f"| `{name.upper()}` | `{_cell(_default(field))}` | {_cell(field.description or '')} |"
        for name, field in Settings.model_fields.items()
    ]
    return HEADER + "\n".join(rows) + "\n"
