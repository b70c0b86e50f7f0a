"""Logging set-up for the edges: text for terminals, JSON lines for log pipelines. Records carry
the Slack `event_id` of the work they belong to (a context variable set per event) and any
`answer_id` passed as `extra`, so one answer's story can be followed across threads."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

EVENT_ID: ContextVar[str | None] = ContextVar("event_id", default=None)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "event_id", None) is None and (event_id := EVENT_ID.get()) is not None:
            record.event_id = event_id
        return True


@contextmanager
def event_context(event_id: str | None) -> Iterator[None]:
    token = EVENT_ID.set(event_id)
    try:
        yield
    finally:
        EVENT_ID.reset(token)


def configure(*, level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        from pythonjsonlogger.json import JsonFormatter

        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        ))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
