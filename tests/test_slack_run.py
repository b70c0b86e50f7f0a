"""`supportbot run` as a real process: HTTP mode serves /healthz and /slack/events, SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
from fakes.slack_server import FakeSlack
from slack_client import SECRET, SlackSender


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(database_url: str, **extra: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_", "SCHEDULER_"))}
    # An OpenAI key (never used here) spares the test loading the local embedding model.
    return keep | {"DATABASE_URL": database_url, "SCHEDULER_ENABLED": "false", "OPENAI_API_KEY": "sk-unused",
                   "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", **extra}


def test_run_serves_http_and_stops_on_sigterm(database_url, tmp_path):
    port = _free_port()
    with FakeSlack() as slack:
        env = _env(database_url, SLACK_BOT_TOKEN="xoxb-test", SLACK_SIGNING_SECRET=SECRET,
                   SLACK_API_URL=slack.url + "/api/", LOG_FORMAT="json")
        proc = subprocess.Popen([sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    health = httpx.get(base + "/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, proc.stdout and proc.stdout.read()
                    time.sleep(0.1)
            assert (health.status_code, health.text) == (200, "ok\n")
            challenge = SlackSender(base).post(json.dumps({"type": "url_verification", "challenge": "c4t"}),
                                               "application/json")
            assert challenge.status_code == 200 and challenge.json() == {"challenge": "c4t"}
            assert slack.calls_to("auth.test")  # the token was checked at start
            metrics = httpx.get(base + "/metrics", timeout=5)
            assert metrics.status_code == 200 and "supportbot_answer_stage_seconds_bucket" in metrics.text
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, output
    assert "HTTP on 127.0.0.1" in output and output.rstrip().endswith("stopped")
    logs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert logs and all({"time", "level", "logger", "message"} <= set(entry) for entry in logs)


def test_socket_mode_server_answers_health_only():
    from bot.server import HttpServer

    server = HttpServer(None, host="127.0.0.1", port=0, healthy=lambda: False).start()
    try:
        assert httpx.get(server.url + "/healthz").status_code == 503  # database down: not ready
        assert httpx.post(server.url + "/slack/events", content=b"{}").status_code == 404
    finally:
        server.stop()


def test_run_without_a_bot_token_names_the_variable(database_url, tmp_path):
    result = subprocess.run([sys.executable, "-m", "bot", "run", "--port", "0"], cwd=tmp_path,
                            env=_env(database_url), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "SLACK_BOT_TOKEN is not set" in result.stderr


def test_manifest_declares_what_the_app_handles():
    from pathlib import Path

    import yaml

    manifest = yaml.safe_load((Path(__file__).parents[1] / "slack" / "manifest.yml").read_text())
    settings, features = manifest["settings"], manifest["features"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im", "app_home_opened"}
    assert {c["command"] for c in features["slash_commands"]} == {"/cite", "/supportbot-admin"}
    assert all(c["url"].endswith("/slack/events") for c in features["slash_commands"])
    assert settings["interactivity"]["is_enabled"] and features["app_home"]["home_tab_enabled"]
    assert {"app_mentions:read", "chat:write", "commands", "im:history", "reactions:write", "usergroups:read",
            "channels:history", "groups:history"} <= set(manifest["oauth_config"]["scopes"]["bot"])
