"""The edge where exceptions become words: `SupportBotError` messages are shown, anything else gets a
short apology. The details go to the log with the event id, never to Slack."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.render import ERROR_TEXT
from knowledge.errors import SupportBotError

log = logging.getLogger(__name__)


def friendly(error: BaseException) -> str:
    return str(error) if isinstance(error, SupportBotError) and str(error) else ERROR_TEXT


def _where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(channel, thread ts) the request came from, if it came from a message."""
    event = body.get("event") or {}
    if event.get("channel") and event.get("ts"):
        return event["channel"], event.get("thread_ts") or event["ts"]
    message = body.get("message") or body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or message.get("channel_id")
    ts = message.get("thread_ts") or message.get("ts") or message.get("message_ts")
    return (channel, ts) if channel and ts else (None, None)


def report(error: BaseException, body: dict[str, Any], client: WebClient | None, respond: Callable | None) -> None:
    """Log `error` with what identifies the request, and tell the person who asked."""
    ident = body.get("event_id") or body.get("trigger_id") or (body.get("view") or {}).get("id")
    kind = (body.get("event") or {}).get("type") or body.get("type") or body.get("command")
    if isinstance(error, SupportBotError):
        log.warning("slack %s %s: %s", kind, ident, error)
    else:
        log.error("slack %s %s failed", kind, ident, exc_info=error)
    text = f":warning: {friendly(error)}"
    try:
        channel, thread_ts = _where(body)
        if body.get("type") == "event_callback":
            if client is not None and channel:
                client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        elif getattr(respond, "response_url", None):  # commands and message buttons carry one
            respond(text=text, response_type="ephemeral", replace_original=False)
        elif client is not None and channel and (body.get("user") or {}).get("id"):
            client.chat_postEphemeral(channel=channel, user=body["user"]["id"], thread_ts=thread_ts, text=text)
    except Exception:  # the apology itself failed (Slack down?): the log has the original error
        log.warning("could not tell the user about the failure of %s %s", kind, ident, exc_info=True)


def register(app: App) -> None:
    @app.error
    def on_error(error: Exception, body: dict[str, Any], client: WebClient, respond: Callable) -> None:
        report(error, body, client, respond)
