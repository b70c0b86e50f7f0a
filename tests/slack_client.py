"""Drive the bot the way Slack does: signed HTTP requests (HMAC v0) to its real HTTP endpoint.

`running_bot(...)` starts the whole thing on loopback: real Postgres (the test database), the real
Bolt app from `create_app`, served by `bot.server.HttpServer`, talking to `FakeSlack` and
`FakeOpenAI`. `SlackSender` builds and signs event / command / interaction payloads.
"""

from __future__ import annotations

import itertools
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlencode

import httpx
from fakes.openai_server import FakeOpenAI
from fakes.slack_server import FakeSlack
from helpers import add_folder_source, sync, write_doc
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import update

from bot.app import Services, build_services, create_app
from bot.server import HttpServer, drain
from bot.settings import Settings
from knowledge.models import Document

SECRET = "test-signing-secret"
TEAM, BOT_USER, BOT_ID, APP_ID = "T0TANDEM", "U0SUPPORTBOT", "B0SUPPORTBOT", "A0SUPPORTBOT"
_ids = itertools.count(1)


class SlackSender:
    def __init__(self, url: str, secret: str = SECRET, *, response_base: str = "") -> None:
        self.url, self.secret, self.response_base = url + "/slack/events", secret, response_base
        self.http = httpx.Client(timeout=10)

    def post(self, body: str, content_type: str, *, timestamp: int | None = None,
             signature: str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        sig = signature or SignatureVerifier(self.secret).generate_signature(timestamp=ts, body=body)
        return self.http.post(self.url, content=body.encode(), headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig, **(headers or {}),
        })

    def event(self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None,
              **kw: Any) -> httpx.Response:
        body = {
            "token": "legacy", "team_id": TEAM, "api_app_id": APP_ID, "type": "event_callback",
            "event_id": event_id or f"Ev{next(_ids):08d}", "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else None
        return self.post(json.dumps(body), "application/json", headers=headers, **kw)

    def mention(self, text: str, *, channel: str = "C0HELP", user: str = "U0ASKER", ts: str | None = None,
                thread_ts: str | None = None, **kw: Any) -> httpx.Response:
        event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "channel": channel,
                 "ts": ts or new_ts(), "team": TEAM}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return self.event(event, **kw)

    def direct_message(self, text: str, *, user: str = "U0ASKER", channel: str = "D0ASKER", **fields: Any) -> httpx.Response:
        event = {"type": "message", "channel_type": "im", "user": user, "text": text, "channel": channel,
                 "ts": new_ts(), "team": TEAM, **fields}
        return self.event({k: v for k, v in event.items() if v is not None})

    def command(self, command: str, text: str, *, user: str = "U0ASKER", channel: str = "C0HELP",
                response_id: str = "cmd") -> httpx.Response:
        form = {"token": "legacy", "team_id": TEAM, "channel_id": channel, "user_id": user, "command": command,
                "text": text, "api_app_id": APP_ID, "trigger_id": "13345224609.738474920.8088930838d88f008e0",
                "response_url": f"{self.response_base}/response/{response_id}"}
        return self.post(urlencode(form), "application/x-www-form-urlencoded")

    def click(self, action_id: str, value: str, *, message: dict[str, Any], user: str = "U0VOTER",
              channel: str = "C0HELP", response_id: str = "act") -> httpx.Response:
        payload = {
            "type": "block_actions", "team": {"id": TEAM}, "api_app_id": APP_ID, "user": {"id": user},
            "channel": {"id": channel}, "trigger_id": f"trigger.{next(_ids)}",
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel},
            "message": message, "response_url": f"{self.response_base}/response/{response_id}",
            "actions": [{"type": "button", "action_id": action_id, "block_id": f"answer_{value}", "value": value,
                         "action_ts": str(time.time())}],
        }
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    def submit(self, view: dict[str, Any], values: dict[str, Any], *, user: str = "U0VOTER") -> httpx.Response:
        payload = {"type": "view_submission", "team": {"id": TEAM}, "api_app_id": APP_ID, "user": {"id": user},
                   "trigger_id": f"trigger.{next(_ids)}", "view": {**view, "state": {"values": values}}}
        return self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def new_ts() -> str:
    return f"{time.time():.6f}"


@dataclass
class Bot:
    services: Services
    app: Any
    server: HttpServer
    slack: FakeSlack
    openai: FakeOpenAI
    send: SlackSender

    def settle(self) -> None:
        """Wait for every queued answer (no more work is accepted afterwards: call it last)."""
        drain(self.app)

    def answers(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Posted messages that carry answer blocks (the bot's replies other than status/error notes)."""
        return [m for m in self.slack.posted_messages(channel) if any(b["type"] == "actions" for b in m.get("blocks") or [])]


def seed_help_center(folder: Path, sessions, embedder) -> None:
    recent = (datetime.now(timezone.utc) - timedelta(days=3)).date().isoformat()
    write_doc(folder, "swap.md", "# Swap a shift\n\nOpen the shift and tap Swap. A manager approves swaps within 24 hours.",
              id="swap", title="Swap a shift", url="https://help.example/swap", updated_at=recent)
    write_doc(folder, "plans.md", "# Plans and pricing\n\nThe Pro plan costs eight dollars per user per month.",
              id="plans", title="Plans and pricing", url="https://help.example/plans", updated_at="2025-01-01")
    write_doc(folder, "payroll.md", "# Export payroll\n\nExport payroll from Reports, then Payroll export, as CSV.",
              id="payroll", title="Export payroll", url="https://help.example/payroll", status="draft")
    add_folder_source(sessions, "hc", folder)
    sync(sessions, "hc", embedder)
    with sessions.begin() as session:
        session.execute(update(Document).where(Document.external_id == "plans").values(stale_reason="not reviewed in 180 days"))


@contextmanager
def running_bot(database_url: str, embedder, folder: Path, **settings: Any) -> Iterator[Bot]:
    with FakeSlack(team_id=TEAM, bot_user_id=BOT_USER, bot_id=BOT_ID) as slack, FakeOpenAI() as openai:
        config = Settings(
            _env_file=None, database_url=database_url, openai_api_key="sk-test", openai_base_url=openai.url + "/v1",
            openai_max_retries=0, openai_timeout=10, slack_bot_token="xoxb-test", slack_signing_secret=SECRET,
            slack_api_url=slack.url + "/api/", answer_min_similarity=0.1, rewrite_followups_with_model=False,
            scheduler_enabled=False, **settings,
        )
        services = build_services(config, migrate=False, embedder=embedder)
        seed_help_center(folder, services.sessions, embedder)
        app = create_app(services)
        server = HttpServer(app, host="127.0.0.1", port=0, healthy=lambda: True).start()
        try:
            yield Bot(services, app, server, slack, openai, SlackSender(server.url, response_base=slack.url))
        finally:
            server.stop()
            drain(app)
            services.engine.dispose()
