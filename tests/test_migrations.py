from sqlalchemy import inspect, text

from knowledge import schema
from knowledge.db import make_engine

FIRST = "0001"


def test_migrate_from_scratch_creates_everything(empty_database_url):
    engine = make_engine(empty_database_url)
    schema.upgrade(engine)
    insp = inspect(engine)
    assert {"sources", "documents", "chunks", "sync_runs", "embedding_space"} <= set(insp.get_table_names())
    assert "ix_chunks_tsv" in {i["name"] for i in insp.get_indexes("chunks")}
    with engine.connect() as conn:
        assert conn.execute(text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar()
    schema.upgrade(engine)  # idempotent
    engine.dispose()


def test_upgrade_from_the_first_revision_keeps_data(empty_database_url):
    engine = make_engine(empty_database_url)
    schema.upgrade(engine, FIRST)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO sources (name, kind, options) VALUES ('hc', 'folder', '{\"path\": \"/x\"}')"))
        conn.execute(text(
            "INSERT INTO documents (source_id, external_id, title, status, internal, labels, body, content_hash,"
            " source_ref, meta) VALUES (1, 'doc', 'Title', 'published', false, '{}', 'Body text', 'h', 'doc', '{}')"
        ))
        conn.execute(text(
            "INSERT INTO chunks (id, document_id, ord, breadcrumb, content, tokens, embedding)"
            " VALUES ('c1', 1, 0, 'Title', 'Body text', 2, '[1,0,0]')"
        ))
    schema.upgrade(engine)
    assert schema.current_revision(engine) != FIRST or _only_one_revision()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT title FROM documents")).scalar() == "Title"
        assert conn.execute(text("SELECT content FROM chunks WHERE tsv @@ to_tsquery('english', 'body')")).scalar() == "Body text"
    engine.dispose()


def _only_one_revision() -> bool:
    from alembic.script import ScriptDirectory

    from knowledge.schema import alembic_config

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head() == FIRST


def test_models_match_migrations(database_url):
    """Alembic autogenerate finds no difference between the models and the migrated schema."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from knowledge.models import Base

    engine = make_engine(database_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": _filter})
        diff = compare_metadata(ctx, Base.metadata)
    engine.dispose()
    assert diff == []


def _filter(obj, name, type_, reflected, compare_to):
    if type_ == "table" and name == "apscheduler_jobs":
        return False  # APScheduler's own job store (jobs/scheduler.py), not a model
    return not (type_ == "index" and name and name.startswith("ix_chunks_embedding_hnsw")) and name != "alembic_version"
