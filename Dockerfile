# One image for every greekstream subcommand: process, sink, serve, produce, topics, history.
# It talks to a ClickHouse server (http(s):// DSNs) and holds no embedded ClickHouse: chDB is the
# optional extra `embedded` (~0.8 GB with pandas/pyarrow). The demo image adds it, so
# `greekstream demo` runs on chdb:// there (docs/deploy.md, "Image size"):
#
#   docker build -t greekstream:0.1.0 .
#   docker build --build-arg EXTRAS=embedded -t greekstream:0.1.0-demo .
#   docker run --rm greekstream:0.1.0 --help                 # ENTRYPOINT is `greekstream`
#   docker run --rm greekstream:0.1.0 topics list --partitions 12
#
# Two stages: `build` makes a virtualenv from requirements.lock (binary wheels only, so no
# compiler is needed or shipped) plus the source tree; the final stage copies just that venv,
# the source and the bundled demo events onto a clean slim base and runs as uid 10001.
# BASE must give `python3` with `venv`; both stages use it so the venv's interpreter matches.
ARG BASE=python:3.11-slim-bookworm
# EXTRAS=embedded also installs requirements-embedded.lock (chDB): the demo image.
ARG EXTRAS=

FROM ${BASE} AS build
ARG EXTRAS
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/greekstream/venv
ENV PATH=/opt/greekstream/venv/bin:$PATH
WORKDIR /opt/greekstream/app
COPY requirements.lock requirements-embedded.lock ./
RUN pip install --only-binary=:all: --require-virtualenv -r requirements.lock \
    && case "${EXTRAS}" in \
         "") ;; \
         embedded) pip install --only-binary=:all: --require-virtualenv --no-deps \
                     -r requirements-embedded.lock ;; \
         *) echo "unknown EXTRAS=${EXTRAS} (known: embedded)" >&2; exit 1 ;; \
       esac \
    && pip install --only-binary=:all: "setuptools>=68" wheel
# The source stays in the image in its repository layout: the migrations are read from
# schemas/clickhouse and the query page from greekstream/api/static (see history/migrate.py).
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY services ./services
RUN pip install --no-deps --no-build-isolation -e . \
    && greekstream --help > /dev/null \
    && mkdir -p /opt/greekstream/share \
    && python -m greekstream.sample --out /opt/greekstream/share/demo.jsonl \
    && python -m compileall -q services \
    && pip uninstall -y setuptools wheel pip \
    && rm -rf services/*.egg-info \
    && rm -rf /root/.cache

FROM ${BASE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="greekstream" \
      org.opencontainers.image.description="Event-sourced streaming risk engine for crypto-derivatives desks" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/greekstream/greekstream" \
      org.opencontainers.image.documentation="https://github.com/greekstream/greekstream/blob/main/docs/deploy.md"
RUN groupadd --gid 10001 greekstream \
    && useradd --uid 10001 --gid 10001 --home-dir /home/greekstream --create-home \
       --shell /usr/sbin/nologin greekstream \
    && mkdir -p /var/lib/greekstream \
    && chown 10001:10001 /var/lib/greekstream
COPY --from=build /opt/greekstream /opt/greekstream
ENV PATH=/opt/greekstream/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/home/greekstream
WORKDIR /home/greekstream
USER 10001:10001
# The default DSN's embedded chDB store (the demo image, EXTRAS=embedded): mount a volume here.
# The default image has no chDB: give GREEKSTREAM_CLICKHOUSE_DSN=http(s)://... of a server.
VOLUME ["/var/lib/greekstream"]
EXPOSE 8000 8080 8081
# The long-running commands serve /healthz on GREEKSTREAM_HTTP__PORT (defaults: process 8080,
# sink 8081, serve 8000); healthy when one of them answers 200.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request as u\nport = os.environ.get('GREEKSTREAM_HTTP__PORT')\nfor p in [port] if port else ['8080', '8081', '8000']:\n    try:\n        u.urlopen(f'http://127.0.0.1:{p}/healthz', timeout=3)\n        sys.exit(0)\n    except Exception:\n        pass\nsys.exit(1)"]
ENTRYPOINT ["greekstream"]
CMD ["--help"]
