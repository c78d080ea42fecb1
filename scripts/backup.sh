#!/usr/bin/env bash
# scripts/backup.sh: consistent snapshots of users' data while the server runs and clients sync.
#
#   scripts/backup.sh [--env-file FILE] [--keep N] [--bin PATH] DEST [USER...]
#
# Every named user (all users of the running server when none is named) is copied by their own
# worker, under that user's locks (`anki-sync-server snapshot USER DIR`: SQLite online backup of
# collection.anki2 and media.db, the media files media.db lists, snapshot.json), into
#
#   DEST/<UTC timestamp>/<user>/{collection.anki2, media.db, media/, snapshot.json, MANIFEST}
#
# MANIFEST lists every file with its size and SHA-256 (scripts/restore.sh checks it). The run is
# built under DEST/.<timestamp>.partial-<pid> and renamed to DEST/<timestamp> only when every user
# succeeded, so a folder named like a timestamp is always complete. On any failure: one line
# "backup.sh: FAILED: ..." on stderr, the partial folder is removed, exit status 1.
#
# --keep N   afterwards delete the oldest complete snapshots so that exactly N remain
# --env-file the server's environment file (finds its SYNC_BASE, like the server subcommands)
# --bin      the anki-sync-server binary (default: $ANKI_SYNC_SERVER_BIN, then PATH, then the
#            installed ../../bin beside this script, then this checkout's .build/release)
#
# Run it as the server's own user (the worker writes the snapshot files), with DEST writable by it.
set -uo pipefail

PROG="backup.sh"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
fail() { printf '%s: FAILED: %s\n' "$PROG" "$*" >&2; exit 1; }
usage() { sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^# *//' >&2; exit 2; }

ENV_ARGS=()
KEEP=""
BIN="${ANKI_SYNC_SERVER_BIN:-}"
POSITIONAL=()
while [ $# -gt 0 ]; do
    case "$1" in
        --env-file) [ $# -ge 2 ] || usage; ENV_ARGS=(--env-file "$2"); shift 2 ;;
        --env-file=*) ENV_ARGS=(--env-file "${1#--env-file=}"); shift ;;
        --keep) [ $# -ge 2 ] || usage; KEEP="$2"; shift 2 ;;
        --keep=*) KEEP="${1#--keep=}"; shift ;;
        --bin) [ $# -ge 2 ] || usage; BIN="$2"; shift 2 ;;
        --bin=*) BIN="${1#--bin=}"; shift ;;
        -h|--help) usage ;;
        --) shift; POSITIONAL+=("$@"); break ;;
        -*) printf '%s: unknown option %s\n' "$PROG" "$1" >&2; usage ;;
        *) POSITIONAL+=("$1"); shift ;;
    esac
done
[ ${#POSITIONAL[@]} -ge 1 ] || usage
DEST="${POSITIONAL[0]}"
USERS=("${POSITIONAL[@]:1}")
if [ -n "$KEEP" ] && ! [[ "$KEEP" =~ ^[1-9][0-9]*$ ]]; then
    fail "--keep needs a positive number, not '$KEEP'"
fi

if [ -z "$BIN" ]; then
    BIN="$(command -v anki-sync-server 2>/dev/null || true)"
    # Installed from the release archive: share/anki-sync-server/ sits beside bin/.
    INSTALLED="$(dirname "${BASH_SOURCE[0]}")/../../bin/anki-sync-server"
    [ -n "$BIN" ] || { [ -x "$INSTALLED" ] && BIN="$INSTALLED"; } || BIN="$REPO/.build/release/anki-sync-server"
fi
[ -x "$BIN" ] || fail "no anki-sync-server binary at '$BIN' (use --bin or ANKI_SYNC_SERVER_BIN)"

# ---------------------------------------------------------------- users
if [ ${#USERS[@]} -eq 0 ]; then
    status="$("$BIN" "${ENV_ARGS[@]}" status --json 2>&1)" || fail "cannot list users: $status"
    # One JSON line; names are JSON strings (only \" and \\ can be escaped: names have no
    # control characters or '/').
    mapfile -t USERS < <(printf '%s' "$status" | grep -o '"user":"\([^"\\]\|\\.\)*"' \
        | sed -e 's/^"user":"//' -e 's/"$//' -e 's/\\"/"/g' -e 's/\\\\/\\/g')
    [ ${#USERS[@]} -gt 0 ] || fail "the server reports no users"
fi

# ---------------------------------------------------------------- destination
mkdir -p -- "$DEST" 2>/dev/null || fail "cannot create destination '$DEST'"
DEST="$(cd -- "$DEST" && pwd)" || fail "cannot enter destination '$DEST'"
TS="$(date -u +%Y%m%dT%H%M%SZ)"
while [ -e "$DEST/$TS" ]; do sleep 1; TS="$(date -u +%Y%m%dT%H%M%SZ)"; done
WORK="$DEST/.$TS.partial-$$"
# Leftovers of runs that died (their pid is gone).
for old in "$DEST"/.*.partial-*; do
    [ -d "$old" ] || continue
    pid="${old##*.partial-}"
    if [[ "$pid" =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then rm -rf -- "$old"; fi
done
mkdir -m 0700 -- "$WORK" 2>/dev/null || fail "cannot write to destination '$DEST'"
cleanup() { [ -n "${WORK:-}" ] && rm -rf -- "$WORK"; }
trap cleanup EXIT
trap 'fail "interrupted"' INT TERM HUP

# ---------------------------------------------------------------- snapshots
write_manifest() {          # $1 = user, $2 = snapshot folder
    local user="$1" dir="$2" files=() sizes hashes count bytes
    mapfile -d '' files < <(cd -- "$dir" && find . -type f ! -path ./MANIFEST -printf '%P\0' | LC_ALL=C sort -z)
    [ ${#files[@]} -gt 0 ] || return 1
    sizes="$(cd -- "$dir" && printf '%s\0' "${files[@]}" | xargs -0 stat -c '%s' --)" || return 1
    hashes="$(cd -- "$dir" && printf '%s\0' "${files[@]}" | xargs -0 sha256sum --)" || return 1
    count=${#files[@]}
    bytes=$(printf '%s\n' "$sizes" | awk '{ s += $1 } END { print s + 0 }')
    [ "$(printf '%s\n' "$hashes" | wc -l)" -eq "$count" ] || return 1
    {
        printf '# anki-sync-server snapshot manifest 1\n'
        printf '# user: %s\n' "$user"
        printf '# created: %s\n' "$TS"
        printf '# files: %s\n' "$count"
        printf '# bytes: %s\n' "$bytes"
        printf '# lines: <size in bytes> <sha256sum line>\n'
        paste -d ' ' <(printf '%s\n' "$sizes") <(printf '%s\n' "$hashes")
    } > "$dir/MANIFEST.tmp" || return 1
    sync -- "$dir/MANIFEST.tmp" 2>/dev/null || true
    mv -- "$dir/MANIFEST.tmp" "$dir/MANIFEST"
}

for user in "${USERS[@]}"; do
    out="$("$BIN" "${ENV_ARGS[@]}" snapshot "$user" "$WORK/$user" 2>&1)" \
        || fail "snapshot of $user: $(printf '%s' "$out" | tr '\n' ' ')"
    [ -f "$WORK/$user/snapshot.json" ] || fail "snapshot of $user: no snapshot.json was written"
    write_manifest "$user" "$WORK/$user" || fail "snapshot of $user: cannot write MANIFEST"
    printf '%s: %s\n' "$PROG" "$out"
done
sync -- "$WORK" "$WORK"/* 2>/dev/null || true
mv -T -- "$WORK" "$DEST/$TS" || fail "cannot rename $WORK to $DEST/$TS"
WORK=""
sync -- "$DEST" 2>/dev/null || true
printf '%s: complete: %s (%s user(s): %s)\n' "$PROG" "$DEST/$TS" "${#USERS[@]}" "${USERS[*]}"

# ---------------------------------------------------------------- retention
if [ -n "$KEEP" ]; then
    mapfile -t complete < <(cd -- "$DEST" && find . -mindepth 1 -maxdepth 1 -type d \
        -regextype posix-extended -regex '\./[0-9]{8}T[0-9]{6}Z' -printf '%P\n' | LC_ALL=C sort)
    excess=$(( ${#complete[@]} - KEEP ))
    for ((i = 0; i < excess; i++)); do
        # Renamed first, so a half-deleted folder never looks like a complete snapshot.
        victim="$DEST/.${complete[$i]}.deleting-$$"
        mv -T -- "$DEST/${complete[$i]}" "$victim" && rm -rf -- "$victim" \
            || fail "retention: cannot delete $DEST/${complete[$i]}"
        printf '%s: removed old snapshot %s\n' "$PROG" "$DEST/${complete[$i]}"
    done
fi
exit 0
