"""Alembic migrations (run with `supportbot migrate`, and automatically on start)."""
