"""Media sync (issue 5): real clients of one account exchanging files, and raw
protocol requests for the server's rules (MEDIA.md). Protocol tests also run
against the official server (`--server official`) to validate what they expect;
tests about our own storage and process model are `ours_only`."""
from __future__ import annotations

import hashlib
import io
import json
import os
import random
import signal
import sqlite3
import time
import unicodedata
import zipfile
from pathlib import Path

import pytest

from helpers import (RawConn, Server, assert_plain_error, chunked, meta, proc_state, v11,
                     v11_request, wait_until, zstd_compress)



USERS = [f"m{i}:pw{i}" for i in range(1, 13)]
OFFICIAL = os.environ.get("E2E_SERVER", "ours") == "official"


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def media_sync(client, timeout: float = 60.0):
    """One stand-alone media sync of a real client; raises if it fails."""
    client.col.sync_media(client.auth)
    deadline = time.monotonic() + timeout
    while client.col.media_sync_status().active:      # raises if the sync failed
        if time.monotonic() > deadline:
            client.col.abort_media_sync()
            raise AssertionError(f"media sync still running after {timeout}s")
        time.sleep(0.02)


def local_files(client) -> dict[bytes, bytes]:
    """{name bytes: content} of the client's media folder (top level)."""
    d = client.col.media.dir()
    return {os.fsencode(e.name): Path(e.path).read_bytes() for e in os.scandir(d) if e.is_file()}


def touch_folder(client):
    """The client rescans only when the folder's mtime changed (ms)."""
    d = client.col.media.dir()
    t = time.time() + random.random() * 100 + 5
    os.utime(d, (t, t))


def mcall(srv, user, method, payload, **kw):
    return v11(srv.port, method, payload, srv.hkey(user), "ms", prefix="msync", **kw)


def data_of(r):
    assert r.status == 200, f"{r!r}"
    body = r.json()
    assert body.get("err") == "", body
    return body["data"]


def usn_of(srv, user) -> int:
    return data_of(mcall(srv, user, "begin", {"v": "anki,26.09.3 (e2e),linux"}))["usn"]


def all_changes(srv, user, last=0):
    out = []
    while True:
        page = data_of(mcall(srv, user, "mediaChanges", {"lastUsn": last}))
        if not page:
            return out
        out += page
        last = page[-1][1]


def make_zip(entries, members: dict[str, bytes] | None = None, method=zipfile.ZIP_STORED,
             meta_json: bytes | None = None) -> bytes:
    """An upload zip: `_meta` = entries (a list of [name, member]), plus the members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in (members or {}).items():
            z.writestr(name, data)
        z.writestr("_meta", meta_json if meta_json is not None else json.dumps(entries))
    return buf.getvalue()


def upload(srv, user, entries, members=None, **kw):
    return mcall(srv, user, "uploadChanges", make_zip(entries, members, **kw))


def read_zip(data: bytes) -> dict[str, bytes]:
    """A download zip → {real name: bytes}, checking the member naming rules."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        assert names[-1] == "_meta", names
        mapping = json.loads(z.read("_meta"))
        assert sorted(mapping) == sorted(names[:-1]) == [str(i) for i in range(len(names) - 1)]
        for info in z.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
        return {mapping[m]: z.read(m) for m in names[:-1]}


def server_files(srv, user) -> dict[str, bytes]:
    d = srv.base / user / "media"
    return {os.fsdecode(e.name): Path(e.path).read_bytes() for e in os.scandir(d) if e.is_file()} if d.exists() else {}


def rand_bytes(rng, n):
    return rng.randbytes(n)


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(USERS)


# --------------------------------------------------------------------------
# real clients
# --------------------------------------------------------------------------

def test_two_devices_full_cycle(make_server, clients, server_kind):
    """A uploads 300 small files, a ~5 MB one and Unicode names; after a server restart
    B gets identical bytes and names; deletes, re-adds and in-place edits propagate;
    a fresh third device downloads everything; sanity passes everywhere."""
    s = make_server(["alice:pw"])
    rng = random.Random(5)
    a = clients("a")
    a.login(s, "alice")
    a.upload() if a.required() != "NO_CHANGES" else None
    expected: dict[str, bytes] = {}
    for i in range(300):
        expected[a.col.media.write_data(f"small_{i:03d}.png", rand_bytes(rng, rng.randint(1, 3000)))] = b""
    big = rand_bytes(rng, 5 * 2**20 + 123)
    a.col.media.write_data("big_clip.mp4", big)
    nfc = a.col.media.write_data(unicodedata.normalize("NFC", "café.jpg"), b"nfc bytes")
    nfd = a.col.media.write_data(unicodedata.normalize("NFD", "résumé.jpg"), b"nfd bytes")
    cjk = a.col.media.write_data("日本語の音声.mp3", rand_bytes(rng, 4000))
    emoji = a.col.media.write_data("😀 smile 🎉.gif", rand_bytes(rng, 777))
    assert nfd == unicodedata.normalize("NFC", nfd), "the client stores names in NFC"
    media_sync(a)
    files_a = local_files(a)
    assert len(files_a) == 305
    assert usn_of(s, "alice") == 305
    assert meta(s.port, s.hkey("alice")).json()["media_usn"] == 305
    assert data_of(mcall(s, "alice", "mediaSanity", {"local": 305})) == "OK"

    s.restart()                          # nothing may be lost across a restart

    b = clients("b")
    b.login(s, "alice")
    b.download()
    media_sync(b)
    assert local_files(b) == files_a     # identical bytes and (byte-exact) names
    for name in (nfc, nfd, cjk, emoji):
        assert os.fsencode(name) in local_files(b), name
    assert local_files(b)[b"big_clip.mp4"] == big

    # delete on B → gone on A
    b.col.media.trash_files([cjk, "small_000.png"])
    touch_folder(b)
    media_sync(b)
    assert usn_of(s, "alice") == 307
    media_sync(a)
    assert os.fsencode(cjk) not in local_files(a)
    assert b"small_000.png" not in local_files(a)

    # re-adding a deleted name works; editing in place propagates
    a_dir = Path(a.col.media.dir())
    (a_dir / cjk).write_bytes(b"cjk is back")
    edited = a_dir / "small_001.png"
    edited.write_bytes(b"edited in place")
    later = time.time() + 30
    os.utime(edited, (later, later))
    touch_folder(a)
    media_sync(a)
    assert usn_of(s, "alice") == 309
    media_sync(b)
    files_b = local_files(b)
    assert files_b[os.fsencode(cjk)] == b"cjk is back"
    assert files_b[b"small_001.png"] == b"edited in place"
    assert files_b == local_files(a)

    # a fresh third device gets everything; sanity passes on all three
    c = clients("c")
    c.login(s, "alice")
    c.download()
    media_sync(c)
    assert local_files(c) == files_b
    for client in (a, b, c):
        media_sync(client)           # nothing to do, must not fail
        n = len(local_files(client))
        assert data_of(mcall(s, "alice", "mediaSanity", {"local": n})) == "OK"
    assert server_files(s, "alice") == {os.fsdecode(k): v for k, v in files_b.items()}


def test_collection_sync_then_media_uses_meta_usn(srv, clients):
    """A normal collection sync with media: the client takes media_usn from meta."""
    a = clients("a")
    a.login(srv, "m1")
    a.upload() if a.required() != "NO_CHANGES" else None
    a.col.media.write_data("from_meta.txt", b"meta path")
    media_sync(a)
    b = clients("b")
    b.login(srv, "m1")
    b.download()
    out = b.col.sync_collection(b.auth, True)
    assert out.server_media_usn == usn_of(srv, "m1") == 1
    deadline = time.monotonic() + 30
    while b.col.media_sync_status().active or b"from_meta.txt" not in local_files(b):
        assert time.monotonic() < deadline, "media sync after collection sync did not deliver"
        time.sleep(0.05)
    assert local_files(b)[b"from_meta.txt"] == b"meta path"


def test_worker_killed_mid_upload_leaves_no_partial_files(srv, clients, server_kind):
    """An upload cut off half way (ours: the worker is killed -9) changes nothing on
    disk or in the database, and the next real sync completes."""
    user = "m2"
    assert upload(srv, user, [["keep.txt", "0"]], {"0": b"kept"}).status == 200
    before = (usn_of(srv, user), server_files(srv, user))
    payload = zstd_compress(make_zip([["huge.bin", "0"], ["other.txt", "1"]],
                                     {"0": os.urandom(24 * 2**20), "1": b"x"}))
    req = v11_request("uploadChanges", b"", srv.hkey(user), "kill", port=srv.port,
                      compress=False, use_chunked=True, prefix="msync")
    head = req[: req.index(b"\r\n\r\n") + 4]
    body = chunked(payload)
    pid = srv.workers().get(user) if server_kind == "ours" else None
    with RawConn(srv.port, timeout=20) as c:
        c.send(head + body[: len(body) // 2])
        time.sleep(0.5)
        if server_kind == "ours":
            assert pid and srv.workers().get(user) == pid
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: proc_state(pid) is None, 5, msg="worker reaped")
    assert (usn_of(srv, user), server_files(srv, user)) == before
    if server_kind == "ours":
        staging = srv.base / user / ".media-staging"
        assert not staging.exists() or list(staging.iterdir()) == []
    a = clients("a")
    a.login(srv, user)
    a.col.media.write_data("after_kill.txt", b"fine")
    media_sync(a)
    assert local_files(a) == {b"keep.txt": b"kept", b"after_kill.txt": b"fine"}
    assert server_files(srv, user) == {"keep.txt": b"kept", "after_kill.txt": b"fine"}


# --------------------------------------------------------------------------
# protocol
# --------------------------------------------------------------------------

def test_begin_and_wrapper(srv):
    r = mcall(srv, "m3", "begin", {"v": "anki,26.09.3 (e2e),linux"})
    assert r.status == 200 and "anki-original-size" in r.headers
    assert r.json() == {"data": {"usn": 0, "sk": srv.hkey("m3")}, "err": ""}
    assert_plain_error(mcall(srv, "m3", "begin", {"v": ""}), 400)
    assert_plain_error(mcall(srv, "m3", "mediaChanges", {"last_usn": 0}), 400)
    assert_plain_error(mcall(srv, "m3", "mediaSanity", {"local": -1}), 400)
    assert data_of(mcall(srv, "m3", "mediaChanges", {"lastUsn": 0})) == []
    assert data_of(mcall(srv, "m3", "mediaSanity", {"local": 0})) == "OK"
    assert data_of(mcall(srv, "m3", "mediaSanity", {"local": 1})) == "mediaSanity"


def test_usn_sequence_and_tombstones(srv):
    """The reference's per-entry outcomes (MEDIA.md 3.4), duplicates in one zip, and a
    deleted-then-re-added file counting as an add."""
    u = "m4"
    seq = [
        ([["a.txt", "0"]], {"0": b"one"}, [1, 1]),
        ([["a.txt", "0"]], {"0": b"one"}, [1, 1]),        # identical: no usn
        ([["a.txt", "0"]], {"0": b"two"}, [1, 2]),        # replaced
        ([["never.txt", None]], {}, [1, 2]),              # delete of an absent name
        ([["a.txt", ""]], {}, [1, 3]),                    # "" means delete
        ([["a.txt", None]], {}, [1, 3]),                  # already deleted
        ([["a.txt", "0"]], {"0": b"two"}, [1, 4]),        # re-add of the old content
        ([["b.txt", "0"], ["b.txt", "1"], ["c.txt", "2"], ["c.txt", None]],
         {"0": b"b1", "1": b"b2", "2": b"c"}, [4, 8]),     # duplicates apply in order
    ]
    for entries, members, want in seq:
        assert data_of(upload(srv, u, entries, members)) == want, entries
    changes = all_changes(srv, u)
    assert [c[1] for c in changes] == sorted(c[1] for c in changes)
    assert changes == [["a.txt", 4, hashlib.sha1(b"two").hexdigest()],
                       ["b.txt", 6, hashlib.sha1(b"b2").hexdigest()],
                       ["c.txt", 8, ""]]
    assert data_of(mcall(srv, u, "mediaChanges", {"lastUsn": 6})) == [["c.txt", 8, ""]]
    assert server_files(srv, u) == {"a.txt": b"two", "b.txt": b"b2"}
    assert data_of(mcall(srv, u, "mediaSanity", {"local": 2})) == "OK"
    assert data_of(upload(srv, u, [])) == [0, 8]
    assert meta(srv.port, srv.hkey(u)).json()["media_usn"] == 8


def test_changes_paging_and_download_rules(srv):
    u = "m5"
    rng = random.Random(7)
    names = [f"n{i:04d}.bin" for i in range(1030)]
    for i in range(0, len(names), 25):
        part = names[i:i + 25]
        r = upload(srv, u, [[n, str(j)] for j, n in enumerate(part)],
                   {str(j): n.encode() * 3 for j, n in enumerate(part)})
        assert data_of(r)[0] == len(part)
    page = data_of(mcall(srv, u, "mediaChanges", {"lastUsn": 0}))
    assert len(page) == 1000 and page[0][1] == 1 and page[-1][1] == 1000
    rest = data_of(mcall(srv, u, "mediaChanges", {"lastUsn": 1000}))
    assert [c[1] for c in rest] == list(range(1001, 1031))
    # download: request order, a prefix cut after the file that passes 2.5 MiB
    big = {f"big{i}.bin": rng.randbytes(1536 * 1024) for i in range(3)}
    assert data_of(upload(srv, u, [[n, str(i)] for i, n in enumerate(big)],
                          {str(i): d for i, d in enumerate(big.values())}))[0] == 3
    r = mcall(srv, u, "downloadFiles", {"files": ["big2.bin", "big0.bin", "big1.bin"]})
    assert r.status == 200 and int(r.headers["anki-original-size"]) == len(r.body)
    got = read_zip(r.body)
    assert list(got) == ["big2.bin", "big0.bin"] and got["big0.bin"] == big["big0.bin"]
    got = read_zip(data_of_raw(mcall(srv, u, "downloadFiles", {"files": ["n0007.bin", "n0007.bin", "n1000.bin"]})))
    assert got == {"n0007.bin": b"n0007.bin" * 3, "n1000.bin": b"n1000.bin" * 3}
    assert read_zip(data_of_raw(mcall(srv, u, "downloadFiles", {"files": []}))) == {}
    assert_plain_error(mcall(srv, u, "downloadFiles", {"files": names[:26]}), 400)
    assert_plain_error(mcall(srv, u, "downloadFiles", {"files": ["nope.bin"]}), 409)
    assert_plain_error(mcall(srv, u, "downloadFiles", {"files": ["N0001.BIN"]}), 409)


def data_of_raw(r):
    assert r.status == 200, f"{r!r}"
    return r.body


def test_unicode_names_exact_and_deflate_accepted(srv):
    u = "m6"
    nfc = unicodedata.normalize("NFC", "café ☕ 日本.jpg")
    nfd = unicodedata.normalize("NFD", nfc)
    r = upload(srv, u, [[nfc, "0"], ["Case.TXT", "1"], ["case.txt", "2"], ["emoji 😀.png", "3"]],
               {"0": b"c" * 5000, "1": b"upper", "2": b"lower", "3": os.urandom(3000)},
               method=zipfile.ZIP_DEFLATED)
    assert data_of(r) == [4, 4]
    files = server_files(srv, u)
    assert files[nfc] == b"c" * 5000 and files["Case.TXT"] == b"upper" and files["case.txt"] == b"lower"
    assert os.fsencode(nfc) in [os.fsencode(n) for n in files]
    got = read_zip(data_of_raw(mcall(srv, u, "downloadFiles", {"files": [nfc, "Case.TXT"]})))
    assert got == {nfc: b"c" * 5000, "Case.TXT": b"upper"}
    assert_plain_error(mcall(srv, u, "downloadFiles", {"files": [nfd]}), 409)
    r = upload(srv, u, [[nfd, "0"]], {"0": b"x"})
    assert_plain_error(r, 400)
    assert usn_of(srv, u) == 4


def _bad_uploads():
    ok = [["fine.txt", "0"]]
    big = b"\0" * (100 * 2**20 + 1)
    return {
        "too_many_entries": (make_zip([[f"f{i}.txt", str(i)] for i in range(26)],
                                      {str(i): b"x" for i in range(26)}), 400),
        "slash_traversal": (make_zip(ok + [["../evil.txt", "1"]], {"0": b"ok", "1": b"evil"}), 400),
        "slash_inside": (make_zip(ok + [["a/b.txt", "1"]], {"0": b"ok", "1": b"evil"}), 400),
        "dotdot": (make_zip(ok + [["..", "1"]], {"0": b"ok", "1": b"evil"}), 500 if OFFICIAL else 400),
        "dot": (make_zip(ok + [[".", "1"]], {"0": b"ok", "1": b"evil"}), 500 if OFFICIAL else 400),
        "empty_name": (make_zip(ok + [["", "1"]], {"0": b"ok", "1": b"evil"}), 500 if OFFICIAL else 400),
        "nfd_name": (make_zip(ok + [[unicodedata.normalize("NFD", "é.txt"), "1"]], {"0": b"ok", "1": b"e"}), 400),
        "name_256_bytes": (make_zip(ok + [["n" * 252 + ".txt", "1"]], {"0": b"ok", "1": b"e"}), 400),
        "missing_meta": (_zip_without_meta(), 400),
        "missing_member": (make_zip(ok + [["gone.txt", "7"]], {"0": b"ok"}), 400),
        "three_fields": (make_zip([["fine.txt", "0", "x"]], {"0": b"ok"}), 400),
        "meta_not_json": (make_zip(ok, {"0": b"ok"}, meta_json=b"[[\"fine.txt\""), 400),
        "truncated_zip": (make_zip(ok + [["second.txt", "1"]], {"0": b"ok", "1": os.urandom(5000)})[:-3000], 400),
        "empty_file": (make_zip(ok + [["empty.txt", "1"]], {"0": b"ok", "1": b""}), 400),
        "file_over_limit": (make_zip(ok + [["big.bin", "1"]], {"0": b"ok", "1": big}), 400),
        "not_a_zip": (b"PK\x03\x04 this is not a zip at all" * 10, 400),
    }


def _zip_without_meta():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("0", b"ok")
    return buf.getvalue()


def test_bad_uploads_rejected_nothing_applied(srv):
    u = "m7"
    assert data_of(upload(srv, u, [["base.txt", "0"]], {"0": b"base"})) == [1, 1]
    before_files = server_files(srv, u)
    for label, (body, status) in _bad_uploads().items():
        r = mcall(srv, u, "uploadChanges", body)
        assert_plain_error(r, status)
        if status == 400 and not OFFICIAL:
            assert r.raw_body.decode() not in ("", "400"), f"{label}: no reason given"
        assert usn_of(srv, u) == 1, label
        if status == 500:
            # the official server writes files before it fails on these names (MEDIA.md 3.3)
            before_files = server_files(srv, u)
        assert server_files(srv, u) == before_files, label
        assert all_changes(srv, u) == [["base.txt", 1, hashlib.sha1(b"base").hexdigest()]], label
    if not OFFICIAL:
        staging = srv.base / u / ".media-staging"
        assert not staging.exists() or list(staging.iterdir()) == []


def test_limit_boundaries(srv):
    """100 MiB exactly is accepted; a size header that lies does not get past the limit."""
    u = "m8"
    exact = b"\1" * (100 * 2**20)
    assert data_of(upload(srv, u, [["exact.bin", "0"]], {"0": exact})) == [1, 1]
    assert (srv.base / u / "media" / "exact.bin").stat().st_size == len(exact)
    # The official server takes names up to 255 bytes; ours only what the client would not cut
    # (120 bytes, MEDIA.md 6.3), since a longer one churns on every device (6.5).
    name = "n" * (251 if OFFICIAL else 116) + ".txt"
    assert data_of(upload(srv, u, [[name, "0"]], {"0": b"long"})) == [1, 2]
    if not OFFICIAL:
        assert_plain_error(upload(srv, u, [["n" * 117 + ".txt", "0"]], {"0": b"long"}), 400)
    # _meta larger than 50 KiB
    pad = b" " * 52000 + b'[["x.txt","0"]]'
    assert_plain_error(mcall(srv, u, "uploadChanges", make_zip(None, {"0": b"x"}, meta_json=pad)), 400)
    assert usn_of(srv, u) == 2


@pytest.mark.ours_only
def test_backslash_refused_ours(srv):
    r = upload(srv, "m9", [["dir\\x.txt", "0"]], {"0": b"x"})
    assert_plain_error(r, 400)
    assert usn_of(srv, "m9") == 0


def test_missing_file_on_disk_is_forgotten(srv):
    u = "m10"
    assert data_of(upload(srv, u, [["lost.txt", "0"], ["kept.txt", "1"]], {"0": b"lost", "1": b"kept"})) == [2, 2]
    (srv.base / u / "media" / "lost.txt").unlink()
    assert_plain_error(mcall(srv, u, "downloadFiles", {"files": ["kept.txt", "lost.txt"]}), 409)
    assert all_changes(srv, u) == [["kept.txt", 2, hashlib.sha1(b"kept").hexdigest()]]
    assert usn_of(srv, u) == 2
    assert data_of(mcall(srv, u, "mediaSanity", {"local": 1})) == "OK"


# --------------------------------------------------------------------------
# our storage: the official media.db layout, interchangeable with the official server
# --------------------------------------------------------------------------

def _db_layout(path: Path):
    con = sqlite3.connect(path)
    try:
        return {
            "user_version": con.execute("pragma user_version").fetchone()[0],
            "media": con.execute("pragma table_info(media)").fetchall(),
            "meta": con.execute("pragma table_info(meta)").fetchall(),
            "indexes": sorted((r[1], r[2]) for r in con.execute("pragma index_list(media)")),
            "ix_usn": con.execute("pragma index_info(ix_usn)").fetchall(),
            "rows": con.execute("select fname, hex(csum), size, usn from media order by usn").fetchall(),
            "meta_rows": con.execute("select * from meta").fetchall(),
        }
    finally:
        con.close()


@pytest.mark.ours_only
def test_media_db_matches_official_and_servers_are_interchangeable(make_server, clients, tmp_path):
    script = [
        ([["a.txt", "0"], ["b.txt", "1"]], {"0": b"aaa", "1": b"bbb"}),
        ([["a.txt", None]], {}),
        ([["b.txt", "0"]], {"0": b"bbb2"}),
    ]
    layouts = {}
    for kind in ("ours", "official"):
        s = make_server(["alice:pw"], base=tmp_path / f"base-{kind}", start=False)
        s.kind = kind
        s.start()
        for entries, members in script:
            assert upload(s, "alice", entries, members).status == 200
        s.stop()
        layouts[kind] = _db_layout(s.base / "alice" / "media.db")
    assert layouts["ours"] == layouts["official"]
    # a data folder written by our server, then served by the official one (and back)
    s = make_server(["alice:pw"], base=tmp_path / "base-ours", start=False)
    s.kind = "official"
    s.start()
    a = clients("a")
    a.login(s, "alice")
    media_sync(a)
    assert local_files(a) == {b"b.txt": b"bbb2"}
    a.col.media.write_data("from_official.txt", b"hello")
    media_sync(a)
    s.stop()
    s.kind = "ours"
    s.start()
    b = clients("b")
    b.login(s, "alice")
    media_sync(b)
    assert local_files(b) == {b"b.txt": b"bbb2", b"from_official.txt": b"hello"}
    assert usn_of(s, "alice") == 5


@pytest.mark.ours_only
def test_download_crc_survives_files_rewritten_outside_the_server(srv):
    """Our download reuses a CRC remembered at upload; a file changed behind the server's
    back (same size) must still be sent with a correct CRC."""
    u = "m11"
    assert data_of(upload(srv, u, [["f.bin", "0"]], {"0": b"A" * 4096})) == [1, 1]
    path = srv.base / u / "media" / "f.bin"
    with open(path, "r+b") as f:          # same inode, same size, new content
        f.write(b"B" * 4096)
    later = time.time() + 5
    os.utime(path, (later, later))
    got = read_zip(data_of_raw(mcall(srv, u, "downloadFiles", {"files": ["f.bin"]})))
    assert got == {"f.bin": b"B" * 4096}   # zipfile checks each member's CRC
