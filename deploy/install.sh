#!/bin/sh
# install.sh: install AnkiSyncServer from its release archive (made by scripts/package) on
# Debian/Ubuntu, without a Swift toolchain. Run from the unpacked archive:
#
#   sudo ./install.sh                         system user, folders, env file, units; then prints next steps
#   DESTDIR=/tmp/root ./install.sh            only the files, under /tmp/root (no useradd, no systemctl)
#
# Installs
#   /usr/local/bin/anki-sync-server, anki-sync-worker
#   /usr/local/share/anki-sync-server/backup.sh, restore.sh (+ deploy examples)
#   /etc/systemd/system/anki-sync-server.service, anki-sync-server-backup.service/.timer
#   /etc/anki-sync-server/env  (kept if it exists) with every setting the server and the admin
#                              commands need: SYNC_BASE, SYNC_HOST, SYNC_PORT; no users yet
#   /var/lib/anki-sync-server (data), /var/backups/anki-sync-server (nightly backups), mode 0700
# SYNC_BASE, SYNC_HOST and SYNC_PORT in the environment of install.sh, if set, are what a new env
# file gets (defaults /var/lib/anki-sync-server, 0.0.0.0, 8080). As root without DESTDIR it also
# creates the system user anki-sync and enables the units (when systemd runs); otherwise it says
# what it skipped. Runtime libraries: libsqlite3-0 libzstd1 zlib1g (installed with apt-get as root).
set -eu

HERE="$(cd "$(dirname "$0")" && pwd)"
DESTDIR="${DESTDIR:-}"
SVC_USER=anki-sync
ETC="/etc/anki-sync-server"
DATA="/var/lib/anki-sync-server"
BACKUPS="/var/backups/anki-sync-server"
SHARE="/usr/local/share/anki-sync-server"
say() { printf 'install.sh: %s\n' "$*"; }
die() { printf 'install.sh: FAILED: %s\n' "$*" >&2; exit 1; }

[ -x "$HERE/bin/anki-sync-server" ] && [ -x "$HERE/bin/anki-sync-worker" ] \
    || die "run it from the unpacked release archive (no bin/anki-sync-server next to it)"
system=0
if [ -z "$DESTDIR" ] && [ "$(id -u)" = 0 ]; then system=1; fi
if [ "$system" = 0 ]; then
    say "DESTDIR set or not root: installing files only (no apt-get, useradd, chown or systemctl)"
fi

# ---------------------------------------------------------------- runtime libraries
if [ "$system" = 1 ] && command -v dpkg >/dev/null 2>&1; then
    missing=""
    for p in libsqlite3-0 libzstd1 zlib1g; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    if [ -n "$missing" ]; then
        say "installing$missing"
        DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null && \
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null \
            || die "apt-get install$missing failed"
    fi
fi

# ---------------------------------------------------------------- user
if [ "$system" = 1 ] && ! id "$SVC_USER" >/dev/null 2>&1; then
    useradd --system --home-dir "$DATA" --shell /usr/sbin/nologin "$SVC_USER" || die "useradd $SVC_USER failed"
    say "created system user $SVC_USER"
fi
own() { if [ "$system" = 1 ]; then chown "$@"; fi; }

# ---------------------------------------------------------------- files
install -d -m 0755 "$DESTDIR/usr/local/bin" "$DESTDIR$SHARE" "$DESTDIR$SHARE/deploy" "$DESTDIR/etc/systemd/system"
install -m 0755 "$HERE/bin/anki-sync-server" "$HERE/bin/anki-sync-worker" "$DESTDIR/usr/local/bin/"
install -m 0755 "$HERE/share/backup.sh" "$HERE/share/restore.sh" "$DESTDIR$SHARE/"
cp "$HERE/deploy/"* "$DESTDIR$SHARE/deploy/"
install -m 0644 "$HERE/deploy/anki-sync-server.service" "$DESTDIR/etc/systemd/system/anki-sync-server.service"
install -m 0644 "$HERE/deploy/backup.service" "$DESTDIR/etc/systemd/system/anki-sync-server-backup.service"
install -m 0644 "$HERE/deploy/backup.timer" "$DESTDIR/etc/systemd/system/anki-sync-server-backup.timer"

install -d -m 0750 "$DESTDIR$ETC"
own "root:$SVC_USER" "$DESTDIR$ETC"
ENV_FILE="$DESTDIR$ETC/env"
if [ -e "$ENV_FILE" ]; then
    say "keeping the existing $ETC/env"
else
    umask 027
    cat > "$ENV_FILE" <<ENV
# AnkiSyncServer settings (systemd EnvironmentFile syntax; see README.md "Configuration").
# Read by the service and by every admin command: anki-sync-server --env-file $ETC/env status
SYNC_BASE=${SYNC_BASE:-$DATA}
SYNC_HOST=${SYNC_HOST:-0.0.0.0}
SYNC_PORT=${SYNC_PORT:-8080}
# Users: anki-sync-server --env-file $ETC/env user add NAME   (stored as PHC hashes)
ENV
    chmod 0640 "$ENV_FILE"
    own "root:$SVC_USER" "$ENV_FILE"
    say "wrote $ETC/env"
fi
for d in "${SYNC_BASE:-$DATA}" "$BACKUPS"; do
    case "$d" in "$DESTDIR"/*) target="$d" ;; *) target="$DESTDIR$d" ;; esac
    install -d -m 0700 "$target"
    own "$SVC_USER:$SVC_USER" "$target"
done

# ---------------------------------------------------------------- units
if [ "$system" = 1 ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload
    systemctl enable anki-sync-server.service anki-sync-server-backup.timer >/dev/null 2>&1 \
        || die "systemctl enable failed"
    say "enabled anki-sync-server.service and anki-sync-server-backup.timer (not started: add a user first)"
elif [ "$system" = 1 ]; then
    say "systemd is not running here: units installed but not enabled"
fi
say "done. Next:"
say "  anki-sync-server --env-file $ETC/env user add alice"
say "  systemctl start anki-sync-server     # then: anki-sync-server --env-file $ETC/env status"
