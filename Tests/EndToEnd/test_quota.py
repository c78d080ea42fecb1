"""Per-user quota (issue 17): SYNC_QUOTA_MEGS and SYNC_QUOTA_MEGS_<user>. A full upload or media
upload that would take the user's folder over the quota is refused with a sentence the real client
shows; nothing is stored. `status` shows each user's disk use. Our server only (the official one
has no quota)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

import pytest

import helpers

pytestmark = pytest.mark.ours_only

MiB = 1024 * 1024


def media_sync(client, timeout: float = 60.0):
    client.col.sync_media(client.auth)
    deadline = time.monotonic() + timeout
    while client.col.media_sync_status().active:      # raises if the sync failed
        assert time.monotonic() < deadline, "media sync still running"
        time.sleep(0.02)


def folder_digest(folder) -> dict:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def status(srv) -> dict:
    r = subprocess.run([str(helpers.ours_bin()), "status", "--json"], env=srv.env(), capture_output=True, text=True,
                       timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return {u["user"]: u for u in json.loads(r.stdout)["users"]}


def test_uploads_over_the_quota_are_refused_with_a_message(make_server, clients):
    srv = make_server(["alice:pa", "bob:pb"], env={"SYNC_QUOTA_MEGS": "1", "SYNC_QUOTA_MEGS_bob": "0"})
    a = clients("alice")
    a.login(srv, "alice")
    helpers.add_basic_notes(a.col, 5, prefix="small")
    a.upload()
    a.col.media.write_data("small.txt", b"fits " * 100)
    media_sync(a)
    assert (srv.base / "alice" / "media" / "small.txt").exists()
    before = folder_digest(srv.base / "alice")
    usn_before = helpers.meta(srv.port, srv.hkey("alice")).json()["usn"]

    # media over the quota: the client's media sync fails with the server's sentence
    a.col.media.write_data("big.bin", os.urandom(MiB + MiB // 2))
    with pytest.raises(Exception) as err:
        media_sync(a)
    assert "quota" in str(err.value) and "1.0 MiB" in str(err.value), str(err.value)
    assert not (srv.base / "alice" / "media" / "big.bin").exists()
    assert folder_digest(srv.base / "alice") == before
    assert not list((srv.base / "alice" / ".media-staging").iterdir())

    # a collection over the quota: the full upload is refused, the stored one untouched
    a.col.media.trash_files(["big.bin"])
    note = a.col.new_note(a.col.models.by_name("Basic"))
    note["Front"] = os.urandom(MiB).hex()
    a.col.add_note(note, a.col.decks.id("Default"))
    with pytest.raises(Exception) as err:
        a.upload()
    assert "Storage quota exceeded" in str(err.value) and "SYNC_QUOTA_MEGS" in str(err.value), str(err.value)
    # the refused upload's temporary file goes right after the reply
    helpers.wait_until(lambda: not list((srv.base / "alice").glob(".upload-*")), msg="upload temp file removed")
    assert folder_digest(srv.base / "alice") == before
    assert helpers.meta(srv.port, srv.hkey("alice")).json()["usn"] == usn_before
    fresh = clients("alice-fresh")
    fresh.login(srv, "alice")
    fresh.download()
    assert fresh.col.note_count() == 5

    # bob's own setting lifts the quota for him
    b = clients("bob")
    b.login(srv, "bob")
    b.upload()
    b.col.media.write_data("big.bin", os.urandom(MiB + MiB // 2))
    media_sync(b)
    assert (srv.base / "bob" / "media" / "big.bin").stat().st_size == MiB + MiB // 2

    # status shows each user's disk use and quota
    st = status(srv)
    assert st["alice"]["quota_bytes"] == MiB and 0 < st["alice"]["disk_bytes"] <= MiB
    assert st["bob"].get("quota_bytes") is None and st["bob"]["disk_bytes"] > MiB
    r = subprocess.run([str(helpers.ours_bin()), "status"], env=srv.env(), capture_output=True, text=True, timeout=60)
    assert "DISK" in r.stdout and "of 1.0 MiB" in r.stdout, r.stdout


def test_quota_settings_are_checked(tmp_path):
    for env, text in (({"SYNC_QUOTA_MEGS": "0"}, "SYNC_QUOTA_MEGS"),
                      ({"SYNC_QUOTA_MEGS": "lots"}, "SYNC_QUOTA_MEGS"),
                      ({"SYNC_QUOTA_MEGS_nobody": "5"}, "no user named 'nobody'")):
        r = helpers.run_server_expect_exit({"SYNC_USER1": "alice:pa", **env}, tmp_path / "base")
        assert r.returncode == 2 and text in r.stderr, r.stderr


def test_media_uploads_in_a_row_count_against_the_quota_between_scans(make_server, clients):
    """Media uploads are judged against a scan of the folder at most 30 s old, moved by every upload
    let through since: the second of two uploads that fit only one at a time is refused although
    no new scan happened in between."""
    srv = make_server(["alice:pa"], env={"SYNC_QUOTA_MEGS": "1"})
    a = clients("alice")
    a.login(srv, "alice")
    a.upload()
    a.col.media.write_data("first.bin", os.urandom(MiB * 6 // 10))
    media_sync(a)
    assert (srv.base / "alice" / "media" / "first.bin").exists()
    a.col.media.write_data("second.bin", os.urandom(MiB * 6 // 10))
    with pytest.raises(Exception) as err:
        media_sync(a)
    assert "quota" in str(err.value), str(err.value)
    assert not (srv.base / "alice" / "media" / "second.bin").exists()
    # Deleting the first makes room, also without a new scan.
    a.col.media.trash_files(["first.bin"])
    media_sync(a)
    assert not (srv.base / "alice" / "media" / "first.bin").exists()
    media_sync(a)
    assert (srv.base / "alice" / "media" / "second.bin").exists()
