# Standalone usage-statistics service for Printernizer (Docker / Raspberry Pi / standalone).
#   docker build -t printernizer-usage .
#   docker run -p 8765:8765 -v printernizer-usage:/data \
#     -e PRINTERNIZER_USAGE_TOKEN="$(openssl rand -hex 24)" printernizer-usage
# The image also contains the aggregation server (`printernizer-aggregation`), which
# docker-compose.example.yml runs next to it.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PRINTERNIZER_USAGE_HOST=0.0.0.0 \
    PRINTERNIZER_USAGE_PORT=8765 \
    PRINTERNIZER_USAGE_DATA_DIR=/data \
    PRINTERNIZER_DEPLOYMENT_MODE=docker

WORKDIR /app
# The runtime lock first (its own layer, cached while only the code changes): the exact
# versions `make run` and the tests use. The project itself then adds no dependency.
COPY requirements/run.txt requirements/run.txt
RUN pip install --no-cache-dir -r requirements/run.txt
COPY pyproject.toml README.md ./
COPY custom_components/printernizer_usage/core custom_components/printernizer_usage/core
COPY aggregation aggregation
COPY printernizer_usage_service printernizer_usage_service
COPY printernizer_usage_web printernizer_usage_web
RUN pip install --no-cache-dir --no-deps . \
    && pip check \
    && python -c "import printernizer_usage_service.app, printernizer_usage_core.service" \
    && useradd --system --uid 10001 --home-dir /data printernizer \
    && mkdir -p /data && chown printernizer /data

USER printernizer
VOLUME ["/data"]
EXPOSE 8765
# Listening on 0.0.0.0 needs a token: set PRINTERNIZER_USAGE_TOKEN (the service refuses to
# start without one and says so).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD python -c "import os,urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PRINTERNIZER_USAGE_PORT','8765'), timeout=4)"
CMD ["printernizer-usage", "serve"]
