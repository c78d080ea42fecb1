"""Backups and restores while the server runs (issue 8): scripts/backup.sh and scripts/restore.sh
on top of `anki-sync-server snapshot|restore USER DIR`, driven with real clients and raw requests.
Our server only."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest

import helpers
from helpers import add_basic_notes, meta, v11

pytestmark = pytest.mark.ours_only

REPO = helpers.REPO
BACKUP = REPO / "scripts" / "backup.sh"
RESTORE = REPO / "scripts" / "restore.sh"
STAMP = r"^\d{8}T\d{6}Z$"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def run_script(srv: helpers.Server, script: Path, *args, timeout=180) -> subprocess.CompletedProcess:
    env = srv.env()
    env["ANKI_SYNC_SERVER_BIN"] = str(helpers.ours_bin())
    return subprocess.run(["bash", str(script), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def ctl(srv: helpers.Server, *args) -> subprocess.CompletedProcess:
    return subprocess.run([str(helpers.ours_bin()), *map(str, args)], env=srv.env(), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def snapshots(dest: Path) -> list[Path]:
    import re
    return sorted(p for p in dest.iterdir() if p.is_dir() and re.match(STAMP, p.name))


def media_sync(client, timeout: float = 60.0):
    client.col.sync_media(client.auth)
    deadline = time.monotonic() + timeout
    while client.col.media_sync_status().active:      # raises if the sync failed
        if time.monotonic() > deadline:
            client.col.abort_media_sync()
            raise AssertionError(f"media sync still running after {timeout}s")
        time.sleep(0.02)


def media_sync_settled(client):
    """A media sync; a forced resync ("please sync again") is followed by a second run."""
    try:
        media_sync(client)
    except Exception:  # noqa: BLE001 - the client's ResyncRequired surfaces as an error
        media_sync(client)
    media_sync(client)


def local_media(client) -> dict[str, bytes]:
    d = Path(client.col.media.dir())
    return {e.name: Path(e.path).read_bytes() for e in os.scandir(d) if e.is_file()}


def add_media(client, name: str, data: bytes):
    client.col.media.write_data(name, data)


def touch_folder(client):
    d = client.col.media.dir()
    t = time.time() + 50 + (hash(d) % 50)
    os.utime(d, (t, t))


def read_manifest(snap: Path) -> tuple[dict, dict[str, tuple[int, str]]]:
    header, files = {}, {}
    for line in (snap / "MANIFEST").read_text().splitlines():
        if line.startswith("# ") and ": " in line:
            k, _, v = line[2:].partition(": ")
            header[k] = v
        elif line and not line.startswith("#"):
            size, digest, name = line.split(" ", 2)
            files[name.lstrip(" ").removeprefix("*")] = (int(size), digest)
    return header, files


def check_manifest(snap: Path):
    header, files = read_manifest(snap)
    on_disk = {str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file() and p.name != "MANIFEST"}
    assert set(files) == on_disk, (sorted(files), sorted(on_disk))
    assert int(header["files"]) == len(files)
    for name, (size, digest) in files.items():
        data = (snap / name).read_bytes()
        assert len(data) == size, name
        assert hashlib.sha256(data).hexdigest() == digest, name
    return header, files


def snapshot_media(snap: Path) -> dict[str, bytes]:
    """{name: bytes} the snapshot's media.db lists as present; checks every file against it."""
    con = sqlite3.connect(f"file:{snap / 'media.db'}?mode=ro&immutable=1", uri=True)
    try:
        rows = con.execute("select fname, csum, size from media where size > 0").fetchall()
        last, total, count = con.execute("select last_usn, total_bytes, total_nonempty_files from meta").fetchone()
        assert con.execute("pragma integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
    out = {}
    for name, csum, size in rows:
        data = (snap / "media" / name).read_bytes()
        assert len(data) == size and hashlib.sha1(data).digest() == bytes(csum), name
        out[name] = data
    assert count == len(rows) and total == sum(r[2] for r in rows)
    assert sorted(p.name for p in (snap / "media").iterdir()) == sorted(out)
    return out


def open_snapshot_collection(snap: Path, tmp: Path):
    """The snapshot's collection, copied and opened with the `anki` package; integrity checked."""
    from anki.collection import Collection
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "collection.anki2"
    shutil.copyfile(snap / "collection.anki2", path)
    col = Collection(str(path))
    assert col.db.scalar("pragma integrity_check") == "ok"
    problems, ok = col.fix_integrity()
    assert ok, problems
    return col


def mcall(srv, user, method, payload, **kw):
    return v11(srv.port, method, payload, srv.hkey(user), "ms", prefix="msync", **kw)


def upload_media_raw(srv, user, files: dict[str, bytes]):
    buf = io.BytesIO()
    entries = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for i, (name, data) in enumerate(files.items()):
            z.writestr(str(i), data)
            entries.append([name, str(i)])
        z.writestr("_meta", json.dumps(entries))
    r = mcall(srv, user, "uploadChanges", buf.getvalue())
    assert r.status == 200, r
    return r.json()["data"]


def media_usn(srv, user) -> int:
    r = mcall(srv, user, "begin", {"v": "anki,26.09.3 (e2e),linux"})
    assert r.status == 200, r
    return r.json()["data"]["usn"]


def work_after_backup(client, notes: int, prefix: str, seed: int, new_file: str, data: bytes, deleted_file: str):
    """Notes synced, one media file added and one deleted, media synced."""
    add_basic_notes(client.col, notes, prefix=prefix, seed=seed)
    client.sync()
    add_media(client, new_file, data)
    client.col.media.trash_files([deleted_file])
    touch_folder(client)
    media_sync_settled(client)


def folder_state(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.name.endswith(("-wal", "-shm")):
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# --------------------------------------------------------------------------
# the scenario
# --------------------------------------------------------------------------

@pytest.fixture
def family(make_server, clients):
    """alice on two devices with notes and media, bob with his own; all in sync."""
    srv = make_server(["alice:pa", "bob:pb"])
    a1 = clients("alice1")
    a1.login(srv, "alice")
    add_basic_notes(a1.col, 60, prefix="before")
    a1.upload()
    for i in range(6):
        add_media(a1, f"a{i}.txt", f"alice file {i} ".encode() * (i + 1) * 50)
    add_media(a1, "shared ü.png", os.urandom(70_000))
    media_sync_settled(a1)
    a2 = clients("alice2")
    a2.login(srv, "alice")
    a2.download()
    media_sync_settled(a2)
    assert local_media(a2) == local_media(a1)
    b = clients("bob")
    b.login(srv, "bob")
    add_basic_notes(b.col, 25, prefix="bob")
    b.upload()
    add_media(b, "bob.jpg", os.urandom(30_000))
    media_sync_settled(b)
    return srv, a1, a2, b


def test_backup_during_sync_and_media_upload_then_restore(family, clients, tmp_path):
    srv, a1, a2, b = family
    dest = tmp_path / "backups"
    k = srv.hkey("alice")

    # alice's third device is in the middle of a normal sync: start + one chunk, no finish yet
    m = meta(srv.port, k).json()
    assert v11(srv.port, "start", {"minUsn": m["usn"], "lnewer": True, "graves": None}, k, "bk1").status == 200
    mid = a1.col.models.by_name("Basic")["id"]
    note = [9_000_000_000_001, "guidBK", mid, 1, m["usn"], "", "uncommitted\x1fx", "uncommitted", 0, 0, ""]
    assert v11(srv.port, "applyChunk", {"chunk": {"done": False, "notes": [note]}}, k, "bk1").status == 200

    # bob uploads media the whole time the backup runs
    stop = threading.Event()
    uploaded: list[str] = []
    errors: list[BaseException] = []

    def uploader():
        i = 0
        try:
            while not stop.is_set():
                name = f"during-{i}.bin"
                upload_media_raw(srv, "bob", {name: os.urandom(200_000 + i)})
                uploaded.append(name)
                i += 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=uploader)
    t.start()
    try:
        time.sleep(0.2)
        r = run_script(srv, BACKUP, "--keep", "5", dest)
    finally:
        stop.set()
        t.join(60)
    assert not errors, errors
    assert r.returncode == 0, r.stdout + r.stderr
    assert "complete" in r.stdout
    assert len(uploaded) >= 1

    # the interrupted sync goes on and commits
    assert v11(srv.port, "applyChunk", {"chunk": {"done": True}}, k, "bk1").status == 200
    fin = v11(srv.port, "finish", {"_pad": None}, k, "bk1")
    assert fin.status == 200, fin

    (snap_dir,) = snapshots(dest)
    assert sorted(p.name for p in snap_dir.iterdir()) == ["alice", "bob"]
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]
    for user in ("alice", "bob"):
        snap = snap_dir / user
        header, files = check_manifest(snap)
        assert header["user"] == user
        info = json.loads((snap / "snapshot.json").read_text())
        assert info["user"] == user
        col = open_snapshot_collection(snap, tmp_path / "check" / user)
        try:
            if user == "alice":
                assert col.note_count() == 60
                assert not col.find_notes("uncommitted")        # the open session is not in it
            else:
                assert col.note_count() == 25
        finally:
            col.close()
        media = snapshot_media(snap)
        assert {f"media/{n}" for n in media} <= set(files)
    alice_snap = snap_dir / "alice"
    snap_alice_media = snapshot_media(alice_snap)
    assert snap_alice_media == local_media(a1)
    bob_snap_media = snapshot_media(snap_dir / "bob")
    assert "bob.jpg" in bob_snap_media

    # alice keeps working after the backup: notes, a new file, a deleted file
    assert a1.required() in ("NORMAL_SYNC", "NO_CHANGES")
    a1.sync()
    work_after_backup(a1, 10, "after", 9, "after.txt", b"added after the backup " * 40, "a0.txt")
    a2.sync()
    media_sync_settled(a2)
    assert "after.txt" in local_media(a2) and "a0.txt" not in local_media(a2)
    usn_before = media_usn(srv, "alice")

    bob_folder_before = folder_state(srv.base / "bob")
    bob_pid = srv.workers()["bob"]
    alice_pid = srv.workers()["alice"]
    bob_meta = {k: v for k, v in meta(srv.port, srv.hkey("bob")).json().items() if k != "ts"}

    # restore alice
    r = run_script(srv, RESTORE, alice_snap, "alice")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified" in r.stdout and "restored" in r.stdout
    helpers.wait_until(lambda: srv.workers().get("alice") not in (None, alice_pid), msg="alice's worker restarted")

    # her devices must full-sync; the media usn moved past everything issued before
    assert a1.required() in ("FULL_SYNC", "FULL_DOWNLOAD"), a1.required()
    assert a2.required() in ("FULL_SYNC", "FULL_DOWNLOAD"), a2.required()
    assert media_usn(srv, "alice") > usn_before
    # every record was re-stamped above every usn issued before, and the file added after the
    # snapshot has a tombstone, so every device re-reads the whole list
    changes = []
    last = usn_before
    while True:
        page = mcall(srv, "alice", "mediaChanges", {"lastUsn": last}).json()["data"]
        if not page:
            break
        changes += page
        last = page[-1][1]
    assert all(usn > usn_before for _, usn, _ in changes)
    assert {n: h for n, _, h in changes} == {**{n: hashlib.sha1(d).hexdigest() for n, d in snap_alice_media.items()},
                                             "after.txt": ""}
    assert last == media_usn(srv, "alice")
    # a device that was ahead converges on the snapshot's media: the file added since is gone
    # (to the device's trash), the deleted one is back
    media_sync_settled(a2)
    assert local_media(a2) == snap_alice_media

    # a fresh device downloads the restored collection and media
    a3 = clients("alice3")
    a3.login(srv, "alice")
    a3.download()
    assert a3.col.note_count() == 60
    assert not a3.col.find_notes("after") and not a3.col.find_notes("uncommitted")
    media_sync_settled(a3)
    assert local_media(a3) == snap_alice_media
    a1.download()
    assert a1.col.note_count() == 60
    assert a1.required() == "NO_CHANGES"

    # bob untouched
    assert srv.workers()["bob"] == bob_pid
    assert folder_state(srv.base / "bob") == bob_folder_before
    assert {k: v for k, v in meta(srv.port, srv.hkey("bob")).json().items() if k != "ts"} == bob_meta
    assert b.required() == "NO_CHANGES"


def test_restore_refuses_other_user_and_damaged_snapshots(make_server, clients, tmp_path):
    srv = make_server(["alice:pa", "bob:pb"])
    for user in ("alice", "bob"):
        c = clients(user)
        c.login(srv, user)
        add_basic_notes(c.col, 5, prefix=user)
        c.upload()
        add_media(c, f"{user}.txt", f"{user}'s file".encode() * 10)
        media_sync_settled(c)
    dest = tmp_path / "b"
    r = run_script(srv, BACKUP, dest)
    assert r.returncode == 0, r.stderr
    (snap_dir,) = snapshots(dest)
    before = folder_state(srv.base / "alice")

    # bob's snapshot as alice: refused by the script, and by the server itself
    r = run_script(srv, RESTORE, snap_dir / "bob", "alice")
    assert r.returncode == 1 and "REFUSED" in r.stderr and "bob" in r.stderr, r.stderr
    r = ctl(srv, "restore", "alice", snap_dir / "bob")
    assert r.returncode == 1 and "snapshot of user" in (r.stdout + r.stderr), r.stdout + r.stderr

    # a damaged copy (the snapshot's media are hard links to the live files: damage a real copy)
    bad = tmp_path / "bad" / "alice"
    shutil.copytree(snap_dir / "alice", bad)
    with open(bad / "media" / "alice.txt", "r+b") as f:
        f.write(b"X")
    r = run_script(srv, RESTORE, bad, "alice")
    assert r.returncode == 1 and "damaged" in r.stderr, r.stderr
    # ... even when the manifest is rewritten to match: the server checks against media.db
    lines = (bad / "MANIFEST").read_text().splitlines()
    data = (bad / "media" / "alice.txt").read_bytes()
    fixed = [f"{len(data)} {hashlib.sha256(data).hexdigest()}  media/alice.txt" if l.endswith("  media/alice.txt") else l
             for l in lines]
    (bad / "MANIFEST").write_text("\n".join(fixed) + "\n")
    r = run_script(srv, RESTORE, bad, "alice")
    assert r.returncode == 1 and "checksum" in (r.stdout + r.stderr), r.stdout + r.stderr
    # a truncated collection
    shutil.rmtree(bad.parent)
    shutil.copytree(snap_dir / "alice", bad)
    with open(bad / "collection.anki2", "r+b") as f:
        f.truncate(4096)
    r = run_script(srv, RESTORE, bad, "alice")
    assert r.returncode == 1 and "damaged" in r.stderr, r.stderr
    # nothing changed for alice
    assert folder_state(srv.base / "alice") == before


def test_retention_and_failed_backups(make_server, clients, tmp_path):
    srv = make_server(["alice:pa", "bob:pb"])
    dest = tmp_path / "keep"
    for _ in range(4):
        r = run_script(srv, BACKUP, "--keep", "2", dest)
        assert r.returncode == 0, r.stderr
    kept = snapshots(dest)
    assert len(kept) == 2
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]
    for s in kept:
        assert sorted(p.name for p in s.iterdir()) == ["alice", "bob"]

    # destination below a regular file: not even root can create it
    blocker = tmp_path / "file"
    blocker.write_text("x")
    r = run_script(srv, BACKUP, blocker / "dest")
    assert r.returncode != 0
    assert "FAILED" in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    assert not (blocker.parent / "file" / "dest").exists() and blocker.is_file()

    # one user fails half-way: nothing that looks complete is left, not even the user that worked
    dest2 = tmp_path / "partial"
    r = run_script(srv, BACKUP, dest2, "alice", "nosuchuser")
    assert r.returncode == 1
    assert "FAILED" in r.stderr and "nosuchuser" in r.stderr, r.stderr
    assert snapshots(dest2) == []
    assert list(dest2.iterdir()) == []

    # the worker refuses to write into an existing folder
    existing = tmp_path / "exists"
    existing.mkdir()
    r = ctl(srv, "snapshot", "alice", existing)
    assert r.returncode == 1 and "exists" in (r.stdout + r.stderr)
    assert list(existing.iterdir()) == []
    # still serving
    helpers.assert_serving(srv, "alice")

