"""Shared fixtures: a real PostgreSQL + pgvector (the embedded server) with a fresh, migrated
database per test, and scriptable fakes for the outside services."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url

sys.path.insert(0, str(Path(__file__).parent))  # so tests import `fakes.…`

from fakes.embedder import CountingEmbedder  # noqa: E402
from fakes.openai_server import FakeOpenAI  # noqa: E402

from knowledge import schema  # noqa: E402
from knowledge.db import make_engine, make_sessionmaker, start_embedded_postgres  # noqa: E402

_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory) -> str:
    """URL of the embedded server's maintenance database, with a migrated template database."""
    url = start_embedded_postgres(tmp_path_factory.mktemp("pg"))
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS sb_template")
        conn.exec_driver_sql("CREATE DATABASE sb_template")
    template = make_engine(make_url(url).set(database="sb_template").render_as_string(hide_password=False))
    schema.upgrade(template)
    template.dispose()
    admin.dispose()
    return url


def _new_database(server_url: str, *, template: str) -> str:
    name = f"sb_test_{next(_counter)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {template}")
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def database_url(pg_server_url) -> str:
    """A fresh database with the current schema."""
    return _new_database(pg_server_url, template="sb_template")


@pytest.fixture
def empty_database_url(pg_server_url) -> str:
    """A fresh database with no schema at all (for migration tests)."""
    return _new_database(pg_server_url, template="template1")


@pytest.fixture
def engine(database_url):
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def sessions(engine):
    return make_sessionmaker(engine)


@pytest.fixture
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def cli(database_url, fake_openai, monkeypatch, tmp_path):
    """Run `supportbot …` in-process against the test database and the fake OpenAI server.

    `cli(*args)` asserts success; `cli(*args, ok=False)` returns whatever happened;
    `cli(*args, code=N)` asserts exit code N."""
    from typer.testing import CliRunner

    from bot.cli import app

    env = {
        "DATABASE_URL": database_url,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake_openai.url + "/v1",
        "EMBEDDING_DIMENSIONS": "32",
        "ANSWER_MIN_SIMILARITY": "0.05",  # hashed fake embeddings are less similar than real ones
        "MODEL_API_KEYS": '{"vllm": "secret-vllm-key"}',
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)  # no stray .env
    runner = CliRunner()

    def run(*args, ok=True, code=None):
        result = runner.invoke(app, list(args))
        expected = code if code is not None else (0 if ok else None)
        if expected is not None:
            assert result.exit_code == expected, result.output + repr(result.exception)
        return result

    run.env = env
    return run
