# syntax=docker/dockerfile:1
# AnkiSyncServer image: the release archive (scripts/package) installed on Debian slim.
#
#   scripts/package                        # dist/anki-sync-server-<version>-linux-<arch>.tar.gz
#   docker build -t anki-sync-server .
#   docker run -d --name anki -p 8080:8080 -v anki-data:/data \
#       -e SYNC_USER1=alice:secret -e PUID=1000 -e PGID=1000 anki-sync-server
#
# No toolchain in the image: it copies the archive and runs its install.sh, exactly the files and
# steps CI checks (Tests/EndToEnd/test_package.py). The image itself is not built in CI (no Docker
# engine there); its health-check command is run there in both configurations.
ARG RUNTIME_IMAGE=debian:bookworm-slim
FROM ${RUNTIME_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends libsqlite3-0 libzstd1 zlib1g libstdc++6 \
    && rm -rf /var/lib/apt/lists/*
# One archive in dist/ (build it with scripts/package first).
COPY dist/anki-sync-server-*-linux-*.tar.gz /tmp/
RUN mkdir /tmp/pkg \
    && tar -xzf /tmp/anki-sync-server-*.tar.gz -C /tmp/pkg --strip-components=1 \
    && SYNC_BASE=/data /tmp/pkg/install.sh \
    && install -m 0755 /tmp/pkg/deploy/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh \
    && rm -rf /tmp/pkg /tmp/anki-sync-server-*.tar.gz

# SYNC_USER1=name:password (and SYNC_USER2, ...) at run time, or an env file named with --env-file.
ENV SYNC_BASE=/data \
    SYNC_HOST=0.0.0.0 \
    SYNC_PORT=8080 \
    PUID=1000 \
    PGID=1000
VOLUME /data
EXPOSE 8080
# Needs only SYNC_HOST/SYNC_PORT (not the users), so it works with and without --env-file.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/anki-sync-server", "--healthcheck"]
# Starts as root only to give /data to PUID:PGID, then runs the server as that user.
ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]
CMD ["/usr/local/bin/anki-sync-server"]
