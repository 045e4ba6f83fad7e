# LiteLLM Gateway container image: the gateway from this source tree, run as a non-root user.
# Not built on the development machines (no Docker daemon there): tests/deploy/ lints this file with hadolint and
# checks that its command, port and environment match compose.yaml and the README.
FROM python:3.12-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin gateway \
    && mkdir -p /data \
    && chown gateway:gateway /data

WORKDIR /app
# the package is installed in place (editable): the spec and the handlers are read from /app, as in a checkout
COPY pyproject.toml README.md ./
COPY spec ./spec
COPY gateway ./gateway
COPY handlers ./handlers
COPY codegen ./codegen
COPY deploy/gateway.yaml ./config/gateway.yaml
# with the [litellm] extra: the image serves translated backends too (a slim image: drop it). The project's own modules
# are byte-compiled here: an editable install is not, and with PYTHONDONTWRITEBYTECODE (and /app not writable by the
# gateway user) every start would compile them from source.
RUN pip install --no-cache-dir -e ".[litellm]" \
    && python -m compileall -q gateway handlers

# CONFIG_FILE_PATH selects the config (LiteLLM's variable); compose mounts its own over this one.
# XDG_DATA_HOME puts the SQLite default, blobs and the vault key under /data/litellm-gateway.
# GATEWAY_KEY_FILE: without gateway.api_keys, the key comes from $GATEWAY_KEY, else this file, else it is generated
# into this file and printed once on the first start.
ENV CONFIG_FILE_PATH=/app/config/gateway.yaml \
    XDG_DATA_HOME=/data \
    GATEWAY_KEY_FILE=/data/gateway.key

USER 10001:10001
VOLUME ["/data"]
EXPOSE 4000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:4000/healthcheck', timeout=4).status != 200)"]
CMD ["litellm-gateway", "serve", "--host", "0.0.0.0", "--port", "4000"]
