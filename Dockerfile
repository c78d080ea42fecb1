# syntax=docker/dockerfile:1
# AnkiSyncServer image: build with the Swift toolchain, run on Debian slim.
#
#   docker build -t anki-sync-server .
#   docker run -d --name anki -p 8080:8080 -v anki-data:/data \
#       -e SYNC_USER1=alice:secret -e PUID=1000 -e PGID=1000 anki-sync-server
#
# The build runs the same command as scripts/serve (`swift build -c release --static-swift-stdlib`),
# which CI exercises; the image itself is not built in CI (no Docker engine there).

ARG SWIFT_IMAGE=swift:6.0-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---------------------------------------------------------------- build
FROM ${SWIFT_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-dev libzstd-dev zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Manifest first, so the dependency download is cached across source changes.
COPY Package.swift Package.resolve[d] ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
# Static Swift runtime: no toolchain libraries needed at run time (same as scripts/serve).
RUN swift build -c release --static-swift-stdlib \
    && install -D -m 0755 .build/release/anki-sync-server /out/anki-sync-server \
    && install -D -m 0755 .build/release/anki-sync-worker /out/anki-sync-worker

# ---------------------------------------------------------------- run
FROM ${RUNTIME_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-0 libzstd1 zlib1g libstdc++6 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /usr/local/bin/
COPY scripts/backup.sh scripts/restore.sh /usr/local/share/anki-sync-server/
COPY deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh

# SYNC_USER1=name:password (and SYNC_USER2, ...) must be given at run time; see README.md.
ENV SYNC_BASE=/data \
    SYNC_HOST=0.0.0.0 \
    SYNC_PORT=8080 \
    PUID=1000 \
    PGID=1000
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/anki-sync-server", "--healthcheck"]
# Starts as root only to give /data to PUID:PGID, then runs the server as that user.
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["/usr/local/bin/anki-sync-server"]
