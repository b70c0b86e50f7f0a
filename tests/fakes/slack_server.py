"""A fake of the Slack Web API (``/api/<method>``) plus ``response_url`` sink.

    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test", base_url=slack.url + "/api/")
        client.chat_postMessage(channel="C1", text="hi")
        assert slack.posted_messages()[0]["text"] == "hi"

Slack semantics kept on purpose: errors are HTTP 200 with ``{"ok": false,
"error": ...}`` (slack_sdk turns them into ``SlackApiError``), except rate
limiting, which is HTTP 429 + ``Retry-After``.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from collections import deque
from typing import Any, Callable

from .http import LoopbackServer, Recorded, Response, json_response, route

__all__ = ["FakeSlack"]

# Fields slack_sdk sends as JSON strings when a call goes out form-encoded.
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view", "unfurls")

SlackHandler = Callable[[dict[str, Any]], dict[str, Any]]


def _decode_json_fields(params: dict[str, Any]) -> dict[str, Any]:
    out = dict(params)
    for key in _JSON_FIELDS:
        if isinstance(out.get(key), str):
            try:
                out[key] = json.loads(out[key])
            except ValueError:
                pass
    return out


class FakeSlack(LoopbackServer):
    """Slack Web API fake.

    State seeded by tests: ``set_thread``, ``set_user``, ``set_channel``,
    ``set_usergroup``, ``add_message``. Scripting: ``fail_next``, ``on``.
    Inspection: ``calls_to``, ``posted_messages``, ``responses``,
    ``messages``, ``reactions``, ``home_views``, ``views``.
    """

    def __init__(
        self,
        *,
        team_id: str = "T0TANDEM",
        team: str = "Tandem",
        bot_user_id: str = "U0SUPPORTBOT",
        bot_id: str = "B0SUPPORTBOT",
        bot_name: str = "supportbot",
        valid_tokens: set[str] | None = None,
    ) -> None:
        super().__init__()
        self.team_id, self.team = team_id, team
        self.bot_user_id, self.bot_id, self.bot_name = bot_user_id, bot_id, bot_name
        self.valid_tokens = valid_tokens  # None = any bearer token is accepted
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> message
        self.ephemeral: list[dict[str, Any]] = []
        self.reactions: dict[tuple[str, str], list[str]] = {}  # (channel, ts) -> names
        self.home_views: dict[str, dict[str, Any]] = {}  # user_id -> published view
        self.views: dict[str, dict[str, Any]] = {}  # view_id -> modal view
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self._threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._failures: dict[str, deque[tuple[str, int, int | None]]] = {}
        self._custom: dict[str, SlackHandler | dict[str, Any]] = {}
        self._ts = itertools.count(1700000000_000100, 100)  # microseconds
        self._ids = itertools.count(1)
        self._lock = threading.RLock()

    # -- seeding / scripting ---------------------------------------------------

    def set_thread(self, channel: str, thread_ts: str, messages: list[dict[str, Any]]) -> None:
        """Messages ``conversations.replies`` returns for this thread (parent first).

        Bot replies posted into the thread via ``chat.postMessage`` are appended,
        as on real Slack. The messages also become updatable/deletable.
        """
        with self._lock:
            msgs = [{"type": "message", **copy.deepcopy(m)} for m in messages]
            self._threads[(channel, thread_ts)] = msgs
            for m in msgs:
                if "ts" in m:
                    self.messages.setdefault((channel, m["ts"]), m)

    def add_message(self, channel: str, ts: str, **fields: Any) -> dict[str, Any]:
        """Seed an existing message (e.g. one the bot posted 'earlier')."""
        msg = {"type": "message", "ts": ts, **fields}
        with self._lock:
            self.messages[(channel, ts)] = msg
        return msg

    def set_user(self, user_id: str, **fields: Any) -> None:
        with self._lock:
            self.users[user_id] = {**self._default_user(user_id), **fields}

    def set_channel(self, channel_id: str, **fields: Any) -> None:
        with self._lock:
            self.channels[channel_id] = {**self._default_channel(channel_id), **fields}

    def set_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        with self._lock:
            self.usergroups[usergroup_id] = list(users)

    def fail_next(
        self,
        method: str,
        error: str = "ratelimited",
        status: int | None = None,
        retry_after: int = 0,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls to ``method`` fail with ``error``.

        ``status`` defaults to 429 for ``ratelimited`` (with ``Retry-After``)
        and 200 otherwise, matching how Slack reports each kind of failure.
        """
        status = status if status is not None else (429 if error == "ratelimited" else 200)
        with self._lock:
            queue = self._failures.setdefault(method, deque())
            queue.extend([(error, status, retry_after)] * times)

    def on(self, method: str, response: SlackHandler | dict[str, Any]) -> None:
        """Override a method: a dict is returned as-is (``ok: true`` added if
        absent); a callable receives the call's params and returns the dict."""
        with self._lock:
            self._custom[method] = response

    # -- inspection ----------------------------------------------------------

    def calls_to(self, method: str) -> list[Recorded]:
        return self.calls(f"/api/{method}")

    def params_of(self, method: str) -> list[dict[str, Any]]:
        """Arguments of every call to ``method``, JSON-string fields decoded."""
        return [_decode_json_fields(r.params) for r in self.calls_to(method)]

    def posted_messages(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Parsed chat.postMessage bodies (``blocks`` etc. always as lists)."""
        return [p for p in self.params_of("chat.postMessage") if channel is None or p.get("channel") == channel]

    def responses(self, response_id: str | None = None) -> list[Any]:
        """JSON bodies POSTed to ``/response/<id>`` (what Bolt's ``respond()`` sent)."""
        return [
            r.json
            for r in self.calls("", "POST")
            if r.path.startswith("/response/") and (response_id is None or r.path == f"/response/{response_id}")
        ]

    def response_url(self, response_id: str = "abc") -> str:
        return f"{self.url}/response/{response_id}"

    # -- HTTP routes -----------------------------------------------------------

    @route("POST", "/response/{response_id}")
    def response_sink(self, req: Recorded, response_id: str) -> Response:
        return json_response({"ok": True})

    @route("GET", "/api/{method}")
    @route("POST", "/api/{method}")
    def api(self, req: Recorded, method: str) -> Response:
        params = _decode_json_fields(req.params)
        token = req.bearer_token or params.pop("token", None)  # Slack also accepts a token param
        if not token:
            return json_response({"ok": False, "error": "not_authed"})
        if self.valid_tokens is not None and token not in self.valid_tokens:
            return json_response({"ok": False, "error": "invalid_auth"})

        with self._lock:
            queue = self._failures.get(method)
            failure = queue.popleft() if queue else None
            custom = self._custom.get(method)
        if failure:
            error, status, retry_after = failure
            headers = {"Retry-After": str(retry_after)} if status == 429 else {}
            return json_response({"ok": False, "error": error}, status, headers)

        if custom is not None:
            result = custom(params) if callable(custom) else copy.deepcopy(custom)
            return json_response({"ok": True, **result})

        handler = getattr(self, "m_" + method.replace(".", "_"), None)
        if handler is None:
            return json_response({"ok": False, "error": "unknown_method", "req_method": method})
        with self._lock:
            # Copy so later mutations (e.g. chat.update) can't race serialisation.
            result = copy.deepcopy(handler(params))
        return json_response({"ok": True, **result})

    # -- Web API methods (called with merged params, under the lock) --------------

    def _next_ts(self) -> str:
        micro = next(self._ts)
        return f"{micro // 1_000_000}.{micro % 1_000_000:06d}"

    def _bot_message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        msg = {
            "type": "message",
            "subtype": "bot_message" if params.get("username") else None,
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": "A0SUPPORTBOT",
            "team": self.team_id,
            "text": params.get("text", ""),
            "ts": ts,
        }
        for key in ("blocks", "attachments", "metadata", "thread_ts"):
            if params.get(key) is not None:
                msg[key] = params[key]
        return {k: v for k, v in msg.items() if v is not None}

    @staticmethod
    def _missing(params: dict[str, Any], *names: str) -> dict[str, Any] | None:
        for name in names:
            if not params.get(name):
                return {
                    "ok": False,
                    "error": "invalid_arguments",
                    "response_metadata": {"messages": [f"[ERROR] missing required field: {name}"]},
                }
        return None

    def m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team.lower()}.slack.com/",
            "team": self.team,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "channel"):
            return err
        if not (params.get("text") or params.get("blocks") or params.get("attachments")):
            return {"ok": False, "error": "no_text"}
        channel, ts = params["channel"], self._next_ts()
        msg = self._bot_message(params, ts)
        self.messages[(channel, ts)] = msg
        return {"channel": channel, "ts": ts, "message": msg}

    def m_chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "channel", "ts"):
            return err
        channel, ts = params["channel"], params["ts"]
        msg = self.messages.get((channel, ts))
        if msg is None:
            return {"ok": False, "error": "message_not_found"}
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in params:
                msg[key] = params[key]
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"channel": channel, "ts": ts, "text": msg.get("text", ""), "message": msg}

    def m_chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "channel", "user"):
            return err
        ts = self._next_ts()
        self.ephemeral.append({**params, "message_ts": ts})
        return {"message_ts": ts}

    def m_chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "channel", "ts"):
            return err
        if self.messages.pop((params["channel"], params["ts"]), None) is None:
            return {"ok": False, "error": "message_not_found"}
        return {"channel": params["channel"], "ts": params["ts"]}

    def m_reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "channel", "timestamp", "name"):
            return err
        names = self.reactions.setdefault((params["channel"], params["timestamp"]), [])
        if params["name"] in names:
            return {"ok": False, "error": "already_reacted"}
        names.append(params["name"])
        return {}

    def m_reactions_remove(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "channel", "timestamp", "name"):
            return err
        names = self.reactions.get((params["channel"], params["timestamp"]), [])
        if params["name"] not in names:
            return {"ok": False, "error": "no_reaction"}
        names.remove(params["name"])
        return {}

    def _view(self, view: Any, **extra: Any) -> dict[str, Any]:
        view_id = f"V{next(self._ids):010d}"
        return {
            "id": view_id,
            "team_id": self.team_id,
            "app_id": "A0SUPPORTBOT",
            "bot_id": self.bot_id,
            "hash": f"{view_id}.hash{next(self._ids)}",
            "state": {"values": {}},
            "private_metadata": "",
            "callback_id": "",
            "external_id": "",
            **(view if isinstance(view, dict) else {}),
            **extra,
        }

    def m_views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "user_id", "view"):
            return err
        view = self._view(params["view"])
        self.home_views[params["user_id"]] = view
        return {"view": view}

    def m_views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("interactivity_pointer") and (err := self._missing(params, "trigger_id")):
            return err
        if err := self._missing(params, "view"):
            return err
        view = self._view(params["view"])
        self.views[view["id"]] = view
        return {"view": view}

    def m_views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "view"):
            return err
        view_id = params.get("view_id")
        if not view_id and params.get("external_id"):
            matches = [v["id"] for v in self.views.values() if v.get("external_id") == params["external_id"]]
            view_id = matches[0] if matches else None
        old = self.views.get(view_id or "")
        if old is None:
            return {"ok": False, "error": "not_found"}
        if params.get("hash") and params["hash"] != old["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        view = self._view(params["view"], id=old["id"])
        self.views[old["id"]] = view
        return {"view": view}

    def m_conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "channel", "ts"):
            return err
        channel, ts = params["channel"], params["ts"]
        thread = list(self._threads.get((channel, ts), []))
        known = {m.get("ts") for m in thread}
        for (ch, mts), msg in self.messages.items():
            if ch == channel and mts not in known and (mts == ts or msg.get("thread_ts") == ts):
                thread.append(msg)
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        thread.sort(key=lambda m: float(m.get("ts", 0)))
        return {
            "messages": copy.deepcopy(thread),
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    def _default_channel(self, channel_id: str) -> dict[str, Any]:
        return {
            "id": channel_id,
            "name": f"channel-{channel_id.lower()}",
            "is_channel": channel_id.startswith("C"),
            "is_group": False,
            "is_im": channel_id.startswith("D"),
            "is_private": channel_id.startswith("G"),
            "is_archived": False,
            "is_member": True,
            "created": 1700000000,
            "creator": "U0ADMIN",
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }

    def m_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "channel"):
            return err
        channel = self.channels.get(params["channel"]) or self._default_channel(params["channel"])
        return {"channel": copy.deepcopy(channel)}

    def _default_user(self, user_id: str) -> dict[str, Any]:
        name = f"user-{user_id.lower()}"
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "real_name": name.title(),
            "tz": "America/New_York",
            "tz_offset": -18000,
            "is_admin": False,
            "is_owner": False,
            "is_bot": False,
            "is_app_user": False,
            "profile": {
                "real_name": name.title(),
                "display_name": name,
                "email": f"{name}@example.com",
                "team": self.team_id,
            },
        }

    def m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "user"):
            return err
        user = self.users.get(params["user"]) or self._default_user(params["user"])
        return {"user": copy.deepcopy(user)}

    def m_usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        if err := self._missing(params, "usergroup"):
            return err
        users = self.usergroups.get(params["usergroup"])
        if users is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"users": list(users)}
