#!/bin/sh
# Container entry point: as root, give the data folder to PUID:PGID and run the command as that
# user (like the official Anki sync server image); as any other user, just run the command.
set -eu

if [ "$(id -u)" = "0" ]; then
    PUID="${PUID:-1000}"
    PGID="${PGID:-1000}"
    case "$PUID$PGID" in *[!0-9]*|"") echo "docker-entrypoint: PUID and PGID must be numbers" >&2; exit 2 ;; esac
    if [ "$PUID" = "0" ]; then
        echo "docker-entrypoint: refusing to run the server as root (PUID=0)" >&2
        exit 2
    fi
    base="${SYNC_BASE:-/data}"
    mkdir -p "$base"
    # Files of an earlier PUID/PGID (or of a restore done as root) become the server's.
    find "$base" -xdev \( ! -user "$PUID" -o ! -group "$PGID" \) -exec chown -h "$PUID:$PGID" {} +
    chmod 0700 "$base"
    export HOME="$base"
    exec setpriv --reuid="$PUID" --regid="$PGID" --clear-groups --inh-caps=-all -- "$@"
fi
exec "$@"
