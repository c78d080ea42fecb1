"""Restore in place (issue 17): with the user's media unchanged or changed since the snapshot, and
with their worker stopped; reading a snapshot (even read-only) changes nothing; symbolic links in a
snapshot are never restored. Real clients; our server only."""
from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

import helpers
from helpers import add_basic_notes
from test_backup import (BACKUP, RESTORE, add_media, ctl, local_media, media_sync_settled, run_script, snapshot_media,
                         snapshots, work_after_backup)

pytestmark = pytest.mark.ours_only


def all_files(folder: Path) -> dict[str, str]:
    """Every file and link below `folder` (-wal/-shm included) with its content hash."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(folder))] = "link:" + os.readlink(p)
        elif p.is_file():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def restore_and_wait(srv, snap: Path, user: str):
    before = srv.workers().get(user)
    r = run_script(srv, RESTORE, snap, user)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified" in r.stdout and "restored" in r.stdout, r.stdout
    if before is not None:
        helpers.wait_until(lambda: srv.workers().get(user) != before, msg=f"{user}'s worker restarted")
    return r


def test_restore_in_place_media_unchanged_changed_and_worker_stopped(make_server, clients, tmp_path):
    srv = make_server(["alice:pa", "bob:pb"], env={"SYNC_WORKER_IDLE_SECS": "3"})
    a1 = clients("alice1")
    a1.login(srv, "alice")
    add_basic_notes(a1.col, 12, prefix="kept")
    a1.upload()
    add_media(a1, "one.txt", b"the first file " * 30)
    add_media(a1, "two.bin", os.urandom(9_000))
    media_sync_settled(a1)
    dest = tmp_path / "backups"
    r = run_script(srv, BACKUP, dest, "alice")
    assert r.returncode == 0, r.stderr
    (run,) = snapshots(dest)
    snap = run / "alice"

    # snapshot files are in rollback-journal mode (header bytes 18/19 = 1, not 2 = WAL) ...
    for name in ("collection.anki2", "media.db"):
        assert (snap / name).read_bytes()[18:20] == b"\x01\x01", name
    # ... so reading them, even read-only, leaves no -wal/-shm behind and changes nothing
    pristine = all_files(snap)
    for name, query in (("collection.anki2", "select count(*) from notes"), ("media.db", "select count(*) from media")):
        con = sqlite3.connect(f"file:{snap / name}?mode=ro", uri=True)
        assert con.execute(query).fetchone()[0] > 0
        con.close()
    assert all_files(snap) == pristine
    snap_media = snapshot_media(snap)
    assert sorted(snap_media) == ["one.txt", "two.bin"]

    # 1. media unchanged since the backup (the restamp used to fail: "database table is locked")
    restore_and_wait(srv, snap, "alice")
    assert a1.required() in ("FULL_SYNC", "FULL_DOWNLOAD"), a1.required()
    a1.download()
    assert a1.col.note_count() == 12
    media_sync_settled(a1)
    assert local_media(a1) == snap_media

    # 2. notes and media changed since the backup
    work_after_backup(a1, 5, "later", 3, "three.txt", b"added later " * 20, "one.txt")
    restore_and_wait(srv, snap, "alice")
    assert a1.required() in ("FULL_SYNC", "FULL_DOWNLOAD"), a1.required()

    # 3. her worker has stopped (idle exit) when the restore starts
    helpers.wait_until(lambda: "alice" not in srv.workers(), timeout=20, msg="alice's worker idle exit")
    restore_and_wait(srv, snap, "alice")
    assert a1.required() in ("FULL_SYNC", "FULL_DOWNLOAD"), a1.required()

    # a fresh device gets the restored collection and media; the snapshot is still untouched
    a3 = clients("alice3")
    a3.login(srv, "alice")
    a3.download()
    assert a3.col.note_count() == 12 and not a3.col.find_notes("later")
    media_sync_settled(a3)
    assert local_media(a3) == snap_media
    assert all_files(snap) == pristine


def test_restore_refuses_symbolic_links(make_server, clients, tmp_path):
    srv = make_server(["alice:pa"])
    c = clients("alice")
    c.login(srv, "alice")
    c.upload()
    add_media(c, "pic.txt", b"the real picture " * 10)
    media_sync_settled(c)
    dest = tmp_path / "b"
    assert run_script(srv, BACKUP, dest).returncode == 0
    (run,) = snapshots(dest)
    before = all_files(srv.base / "alice" / "media")

    # a snapshot whose media file was replaced by a link to a file with the very same content
    bad = tmp_path / "bad" / "alice"
    shutil.copytree(run / "alice", bad)
    outside = tmp_path / "outside.txt"
    outside.write_bytes((bad / "media" / "pic.txt").read_bytes())
    (bad / "media" / "pic.txt").unlink()
    (bad / "media" / "pic.txt").symlink_to(outside)
    r = run_script(srv, RESTORE, bad, "alice")
    assert r.returncode == 1 and "REFUSED" in r.stderr and "symbolic link" in r.stderr, r.stderr
    # the worker refuses it on its own too, and says so in the log
    r = ctl(srv, "restore", "alice", bad)
    assert r.returncode == 1 and "symbolic link" in (r.stdout + r.stderr), r.stdout + r.stderr
    helpers.wait_until(lambda: "symbolic link" in srv.log_tail(200), msg="log line about the link")
    assert all_files(srv.base / "alice" / "media") == before
    assert not [p for p in (srv.base / "alice" / "media").iterdir() if p.is_symlink()]
    helpers.assert_serving(srv, "alice")
