"""Alembic environment. The connection is handed in by `knowledge.schema` (config attribute
`connection`), so there is no URL in alembic.ini and no second place that reads settings."""

from alembic import context

from knowledge.models import Base


def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001 - Alembic hook signature
    # The HNSW index is created for the embedder's dimension at run time (knowledge/vectors.py);
    # APScheduler creates and owns its job-store table (jobs/scheduler.py).
    if type_ == "table" and name == "apscheduler_jobs":
        return False
    return not (type_ == "index" and name and name.startswith("ix_chunks_embedding_hnsw"))


def run_migrations() -> None:
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_object=include_object,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
