#!/bin/sh
# Container entrypoint: `supportbot <command>` (default `run`). The bot needs a real PostgreSQL
# with pgvector in a container (the embedded server is for laptops), so refuse to start without
# DATABASE_URL instead of silently creating a database inside the container's filesystem.
set -eu

if [ -z "${DATABASE_URL:-}" ]; then
    echo "entrypoint: DATABASE_URL is not set; point it at PostgreSQL with the vector extension." >&2
    exit 64
fi

if [ "$#" -eq 0 ]; then
    set -- run
fi

exec supportbot "$@"
