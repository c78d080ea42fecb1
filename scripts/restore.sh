#!/usr/bin/env bash
# scripts/restore.sh: put one user's snapshot (made by scripts/backup.sh) back, while the server runs.
#
#   scripts/restore.sh [--env-file FILE] [--bin PATH] SNAPSHOT USER
#
# SNAPSHOT is DEST/<timestamp>/<user> (or DEST/<timestamp>, then USER's folder in it). Before
# anything changes, the snapshot is checked: its MANIFEST and snapshot.json must name USER, the
# file count, total size and every SHA-256 must match. A snapshot of another user, or a damaged
# or incomplete one, is refused with the reason and exit status 1.
#
# Then `anki-sync-server restore USER SNAPSHOT` has USER's worker check it again (collection
# integrity, media.db, every media file's SHA-1), replace the folder's files atomically under
# USER's locks (any sync in progress is rolled back), force every device of USER to a full sync
# (new schema time), move the media usn past every usn ever issued (so each device re-reads the
# media list), and the server restarts USER's worker. Other users are not touched.
set -uo pipefail

PROG="restore.sh"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fail() { printf '%s: FAILED: %s\n' "$PROG" "$*" >&2; exit 1; }
refuse() { printf '%s: REFUSED: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2; }

ENV_ARGS=()
BIN="${ANKI_SYNC_SERVER_BIN:-}"
POSITIONAL=()
while [ $# -gt 0 ]; do
    case "$1" in
        --env-file) [ $# -ge 2 ] || usage; ENV_ARGS=(--env-file "$2"); shift 2 ;;
        --env-file=*) ENV_ARGS=(--env-file "${1#--env-file=}"); shift ;;
        --bin) [ $# -ge 2 ] || usage; BIN="$2"; shift 2 ;;
        --bin=*) BIN="${1#--bin=}"; shift ;;
        -h|--help) usage ;;
        --) shift; POSITIONAL+=("$@"); break ;;
        -*) printf '%s: unknown option %s\n' "$PROG" "$1" >&2; usage ;;
        *) POSITIONAL+=("$1"); shift ;;
    esac
done
[ ${#POSITIONAL[@]} -eq 2 ] || usage
SNAP="${POSITIONAL[0]}"
USER_NAME="${POSITIONAL[1]}"

if [ -z "$BIN" ]; then
    BIN="$(command -v anki-sync-server 2>/dev/null || true)"
    # Installed from the release archive: share/anki-sync-server/ sits beside bin/.
    INSTALLED="$(dirname "${BASH_SOURCE[0]}")/../../bin/anki-sync-server"
    [ -n "$BIN" ] || { [ -x "$INSTALLED" ] && BIN="$INSTALLED"; } || BIN="$REPO/.build/release/anki-sync-server"
fi
[ -x "$BIN" ] || fail "no anki-sync-server binary at '$BIN' (use --bin or ANKI_SYNC_SERVER_BIN)"

[ -d "$SNAP" ] || refuse "'$SNAP' is not a folder"
if [ ! -f "$SNAP/MANIFEST" ] && [ -d "$SNAP/$USER_NAME" ]; then SNAP="$SNAP/$USER_NAME"; fi
SNAP="$(cd -- "$SNAP" && pwd)" || fail "cannot enter '$SNAP'"
case "$(basename -- "$(dirname -- "$SNAP")")" in
    .*) refuse "$SNAP is inside an incomplete backup run (its folder is not yet renamed to a timestamp)" ;;
esac
M="$SNAP/MANIFEST"
[ -f "$M" ] || refuse "$SNAP has no MANIFEST: not a snapshot made by backup.sh, or an incomplete one"

header() { sed -n "s/^# $1: //p" "$M" | head -n1; }
[ "$(head -n1 "$M")" = "# anki-sync-server snapshot manifest 1" ] || refuse "$M is not a snapshot manifest (version 1)"
m_user="$(header user)"
[ "$m_user" = "$USER_NAME" ] || refuse "$SNAP is a snapshot of user '$m_user', not of '$USER_NAME'"
[ -f "$SNAP/snapshot.json" ] || refuse "$SNAP is damaged: snapshot.json is missing"
json_name="$(printf '%s' "$USER_NAME" | sed -e 's/[\\"]/\\&/g')"
grep -qF "\"user\" : \"$json_name\"" "$SNAP/snapshot.json" \
    || refuse "$SNAP is damaged: snapshot.json does not name user '$USER_NAME'"

m_files="$(header files)"
m_bytes="$(header bytes)"
[[ "$m_files" =~ ^[0-9]+$ && "$m_bytes" =~ ^[0-9]+$ ]] || refuse "$M is damaged (no file count or size)"
body="$(grep -v '^#' "$M")"
lines="$(printf '%s\n' "$body" | grep -c .)"
[ "$lines" -eq "$m_files" ] || refuse "$M is damaged: it lists $lines files but says $m_files"
links="$(cd -- "$SNAP" && find . -type l | head -n 3 | tr '\n' ' ')"
[ -z "$links" ] || refuse "$SNAP holds symbolic links ($links): a snapshot has only files; never restored"
# Snapshots older than this version kept WAL-mode files: a reader (sqlite3, even read-only) left
# an empty -wal and a -shm beside them. Those change nothing and are not counted; a -wal with
# content means something wrote to the snapshot.
SKIP=()
for db in collection.anki2 media.db; do
    if [ -e "$SNAP/$db-wal" ]; then
        [ ! -s "$SNAP/$db-wal" ] || refuse "$SNAP is damaged: $db-wal is not empty (something wrote to the snapshot)"
        grep -qF "  $db-wal" "$M" || SKIP+=(! -path "./$db-wal")
    fi
    [ ! -e "$SNAP/$db-shm" ] || grep -qF "  $db-shm" "$M" || SKIP+=(! -path "./$db-shm")
done
have_files="$(cd -- "$SNAP" && find . -type f ! -path ./MANIFEST "${SKIP[@]}" | wc -l)"
[ "$have_files" -eq "$m_files" ] || refuse "$SNAP is damaged: it holds $have_files files, MANIFEST lists $m_files"
have_bytes="$(cd -- "$SNAP" && find . -type f ! -path ./MANIFEST "${SKIP[@]}" -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')"
[ "$have_bytes" -eq "$m_bytes" ] || refuse "$SNAP is damaged: its files hold $have_bytes bytes, MANIFEST says $m_bytes"
listed_bytes="$(printf '%s\n' "$body" | awk '{ s += $1 } END { print s + 0 }')"
[ "$listed_bytes" -eq "$m_bytes" ] || refuse "$M is damaged: its sizes add up to $listed_bytes, not $m_bytes"
bad="$(cd -- "$SNAP" && printf '%s\n' "$body" | cut -d ' ' -f 2- | sha256sum --check --strict --quiet 2>&1)" \
    || refuse "$SNAP is damaged: $(printf '%s' "$bad" | grep -v '^sha256sum: WARNING' | head -n 3 | tr '\n' ';')"
printf '%s: %s verified (%s files, %s bytes)\n' "$PROG" "$SNAP" "$m_files" "$m_bytes"

out="$("$BIN" "${ENV_ARGS[@]}" restore "$USER_NAME" "$SNAP" 2>&1)" || fail "$(printf '%s' "$out" | tr '\n' ' ')"
printf '%s: %s\n' "$PROG" "$out"
