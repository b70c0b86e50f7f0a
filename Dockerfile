# syntax=docker/dockerfile:1
# Multi-stage: dependencies are built into a virtualenv in the first stage; the runtime stage
# copies only that virtualenv onto a slim base (no compilers), and runs as a non-root user.
#   docker build -t supportbot .                              # OpenAI embeddings (small image)
#   docker build -t supportbot:local --build-arg LOCAL_EMBEDDER=true .   # + offline MiniLM embedder
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG LOCAL_EMBEDDER=false
# Extra index for CPU-only torch wheels when LOCAL_EMBEDDER=true (keeps CUDA out of the image).
ARG TORCH_INDEX_URL=""
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY knowledge ./knowledge
COPY jobs ./jobs
COPY migrations ./migrations
RUN if [ "$LOCAL_EMBEDDER" = "true" ]; then \
        if [ -n "$TORCH_INDEX_URL" ]; then pip install --extra-index-url "$TORCH_INDEX_URL" "torch==2.13.0"; fi; \
        pip install ".[local]"; \
    else \
        pip install .; \
    fi

FROM ${PYTHON_IMAGE} AS runtime
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    DATA_DIR=/var/lib/supportbot PORT=3000 LOG_FORMAT=json
RUN groupadd --system --gid 10001 supportbot \
 && useradd --system --uid 10001 --gid supportbot --home-dir /var/lib/supportbot --create-home supportbot
COPY --from=build /opt/venv /opt/venv
COPY docker/entrypoint.sh /usr/local/bin/entrypoint.sh
USER 10001:10001
WORKDIR /var/lib/supportbot
EXPOSE 3000
# /healthz answers in both HTTP and Socket Mode (see `supportbot run`).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4)"]
ENTRYPOINT ["/usr/local/bin/entrypoint.sh"]
CMD ["run"]
