"""Full sync (issue 3) with the real client: upload, download, the both-empty
choice, rejected uploads, the size limit, a worker killed mid-upload, a server
restart, and non-ASCII names."""
from __future__ import annotations

import os
import signal
import sqlite3
import time

import pytest
from anki.errors import SyncError, SyncErrorKind

from helpers import (CORRUPT_TEXT, RawConn, Client, add_basic_notes, assert_same_collection,
                     build_rich_collection, canonical_dump, chunked, meta, proc_state, v11,
                     v11_request, wait_until, zstd_compress)

pytestmark = pytest.mark.fullsync

USERS = [f"u{i}:pw{i}" for i in range(1, 9)]
N_NOTES = 1000


@pytest.fixture(scope="session")
def rich_src(tmp_path_factory):
    """A never-synced collection with 1,000 notes and every synced kind of object."""
    d = tmp_path_factory.mktemp("rich")
    c = Client(d, "src")
    build_rich_collection(c.col, N_NOTES)
    c.close()
    return c.path


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(USERS)


def full_sync_roundtrip(srv, clients, user, src, name="x"):
    """Client A (copy of src) uploads; fresh client B downloads. Returns (A, B)."""
    a = clients(f"{name}-up", src)
    a.login(srv, user)
    assert a.required() == "FULL_UPLOAD"
    a.upload()
    assert a.required() == "NO_CHANGES"
    b = clients(f"{name}-down")
    b.login(srv, user)
    assert b.required() == "FULL_DOWNLOAD"
    b.download()
    assert b.required() == "NO_CHANGES"
    return a, b


def test_upload_then_download_identical(srv, clients, rich_src):
    a, b = full_sync_roundtrip(srv, clients, "u1", rich_src)
    assert b.count("notes") == N_NOTES
    assert b.count("cards") == a.count("cards") >= 2 * N_NOTES * 9 // 10
    assert b.count("revlog") == a.count("revlog") > 0
    dump_a, dump_b = canonical_dump(a.col), canonical_dump(b.col)
    assert "E2E Vocab" in [m[1] for m in dump_b["notetypes"]]
    assert any("E2E Config" == c[1] for c in dump_b["deck_config"])
    assert "E2E::Sub::Leaf" in dump_b["deck_names"]
    assert_same_collection(dump_a, dump_b)
    problems, ok = b.check_database()
    assert ok, problems
    m = meta(srv.port, srv.hkey("u1")).json()
    assert m["empty"] is False and m["cont"] is True


def test_both_empty_is_a_choice_and_download_is_usable(srv, clients):
    a = clients("a")
    a.col.decks.id("Only A")               # a change without cards: mod != 0, still empty
    a.login(srv, "u2")
    assert a.required() == "FULL_SYNC"     # both empty: the user chooses
    a.download()
    problems, ok = a.check_database()
    assert ok, problems
    assert "Only A" not in [d.name for d in a.col.decks.all_names_and_ids()]
    add_basic_notes(a.col, 3, notetype="Basic")     # the downloaded collection is usable
    assert a.count("notes") == 3
    assert a.col.find_cards("deck:Default")
    # (syncing it back needs a normal sync: the next test)


@pytest.mark.normalsync
def test_downloaded_new_collection_accepts_normal_sync(srv, clients):
    a = clients("a")
    a.col.decks.id("Only A")
    a.login(srv, "u3")
    assert a.required() == "FULL_SYNC"
    a.download()
    add_basic_notes(a.col, 3, deck="Normal Sync Deck", notetype="Basic")
    out = a.sync()                          # a normal sync; reports NO_CHANGES when done
    assert out.required in (out.NO_CHANGES, out.NORMAL_SYNC), out
    assert a.col.db.scalar("select count() from notes where usn = -1") == 0
    b = clients("b")
    b.login(srv, "u3")
    assert b.required() in ("FULL_DOWNLOAD", "FULL_SYNC")
    b.download()
    assert b.count("notes") == 3
    assert "Normal Sync Deck" in [d.name for d in b.col.decks.all_names_and_ids()]


def non_collection_sqlite(path):
    con = sqlite3.connect(path)
    con.execute("create table foo (x)")
    con.execute("insert into foo values (1)")
    con.commit()
    con.close()
    return path.read_bytes()


def invalid_bodies(good: bytes, tmp_path, include_ours_only: bool):
    cases = [
        ("random", os.urandom(200_000)),
        ("text", b"this is not a sqlite file"),
        ("truncated-half", good[: len(good) // 2]),
        ("truncated-header", good[:100]),
        ("zeroed-middle", good[:8192] + b"\0" * (len(good) - 16384) + good[-8192:]),
    ]
    if include_ours_only:
        # the official server accepts these two and replaces the collection with an
        # empty one (data loss); ours must refuse them like any corrupt upload
        cases += [("empty", b""), ("non-collection-sqlite", non_collection_sqlite(tmp_path / "o.db"))]
    return cases


def test_invalid_uploads_rejected_and_old_collection_intact(srv, clients, rich_src, tmp_path,
                                                            server_kind):
    a = clients("a", rich_src)
    a.login(srv, "u4")
    assert a.required() == "FULL_UPLOAD"
    a.upload()
    dump_a = canonical_dump(a.col)
    k = srv.hkey("u4")
    before = meta(srv.port, k).json()
    good = (srv.base / "u4" / "collection.anki2").read_bytes() if server_kind == "official" \
        else rich_src.read_bytes()
    for name, body in invalid_bodies(good, tmp_path, server_kind == "ours"):
        r = v11(srv.port, "upload", body, k, "up" + name[:4])
        assert r.status == 200, (name, r)
        assert "anki-original-size" in r.headers, (name, r)
        assert r.text == CORRUPT_TEXT, (name, r.text)
        after = meta(srv.port, k).json()
        for f in ("mod", "scm", "usn", "empty"):
            assert after[f] == before[f], (name, f, before, after)
    leftovers = [p.name for p in (srv.base / "u4").iterdir()
                 if p.is_file() and p.name not in ("collection.anki2", "collection.anki2-wal",
                                                   "collection.anki2-shm", "collection.anki2-journal",
                                                   "media.db", "media.db-wal", "media.db-shm")]
    assert not leftovers, f"temporary files left behind: {leftovers}"
    b = clients("b")
    b.login(srv, "u4")
    assert b.required() == "FULL_DOWNLOAD"
    b.download()
    assert_same_collection(dump_a, canonical_dump(b.col))
    problems, ok = b.check_database()
    assert ok, problems


@pytest.mark.ours_only
def test_upload_over_size_limit(make_server, clients):
    """The refusal text reaches the real client. (The official server answers as soon
    as 3 MiB are decoded without reading the rest, so its client sees a network error
    instead; ours must consume the body and answer 200 "... exceeds ...".)"""
    s = make_server(["big:pw"], env={"MAX_SYNC_PAYLOAD_MEGS": "1"})
    c = clients("big")
    nt = c.col.models.by_name("Basic")
    from anki.collection import AddNoteRequest
    reqs = []
    for i in range(40):                           # ~4 MiB of incompressible text
        n = c.col.new_note(nt)
        n["Front"] = f"big {i}"
        n["Back"] = os.urandom(75_000).hex()
        reqs.append(AddNoteRequest(note=n, deck_id=1))
    c.col.add_notes(reqs)
    c.login(s, "big")
    assert c.required() == "FULL_UPLOAD"
    with pytest.raises(Exception) as ei:
        c.upload()
    assert "exceeds" in str(ei.value), repr(ei.value)
    m = meta(s.port, s.hkey("big")).json()
    assert m["empty"] is True and m["mod"] == 0 and m["usn"] == 0, m
    stored = sum(p.stat().st_size for p in (s.base / "big").rglob("*") if p.is_file())
    assert stored < 3 * 2**20, f"{stored} bytes stored after a refused upload"


def test_upload_over_size_limit_raw(make_server):
    s = make_server(["big:pw"], env={"MAX_SYNC_PAYLOAD_MEGS": "1"})
    r = v11(s.port, "upload", b"\0" * (3 * 2**20 + 4096), s.hkey("big"))
    assert r.status == 200, r
    assert "exceeds" in r.text, r.text
    assert meta(s.port, s.hkey("big")).json()["empty"] is True


def test_kill9_worker_during_upload(srv, clients, rich_src, server_kind):
    """Ours: the user's worker is killed (-9) half way through an upload. The
    official server (one process) gets the same interrupted upload, without the kill."""
    a = clients("a", rich_src)
    a.login(srv, "u6")
    assert a.required() == "FULL_UPLOAD"
    a.upload()
    dump_a = canonical_dump(a.col)
    k = srv.hkey("u6")
    before = meta(srv.port, k).json()
    pid = srv.workers().get("u6") if server_kind == "ours" else None
    # a second upload whose body stops half way
    payload = zstd_compress(os.urandom(1024) + rich_src.read_bytes() * 4)
    req = v11_request("upload", b"", k, "kill", port=srv.port, compress=False, use_chunked=True)
    head = req[: req.index(b"\r\n\r\n") + 4]
    body = chunked(payload)
    with RawConn(srv.port, timeout=20) as c:
        c.send(head + body[: len(body) // 2])
        time.sleep(0.5)
        if server_kind == "ours":
            assert pid and srv.workers().get("u6") == pid, "upload not handled by u6's worker?"
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: proc_state(pid) is None, 5, msg="worker reaped")
    after = meta(srv.port, k).json()
    for f in ("mod", "scm", "usn", "empty"):
        assert after[f] == before[f], (f, before, after)
    b = clients("b")
    b.login(srv, "u6")
    assert b.required() == "FULL_DOWNLOAD"
    b.download()
    assert_same_collection(dump_a, canonical_dump(b.col))
    # and the next upload succeeds
    add_basic_notes(b.col, 5, notetype="Basic", prefix="after-kill")
    b.col.set_schema_modified()
    assert b.required() in ("FULL_SYNC", "FULL_UPLOAD")
    b.upload()
    d = clients("d")
    d.login(srv, "u6")
    d.download()
    assert d.count("notes") == N_NOTES + 5
    assert_same_collection(canonical_dump(b.col), canonical_dump(d.col))


def test_restart_keeps_data_and_hkeys(make_server, clients, rich_src):
    s = make_server(["alice:pw", "bob:pw2"])
    a = clients("a", rich_src)
    auth = a.login(s, "alice")
    assert a.required() == "FULL_UPLOAD"
    a.upload()
    dump_a = canonical_dump(a.col)
    before = meta(s.port, s.hkey("alice")).json()
    s.restart()                                  # same SYNC_BASE, same port
    assert a.required() == "NO_CHANGES"          # the stored hkey is still valid
    after = meta(s.port, auth.hkey).json()
    for f in ("mod", "scm", "usn", "empty"):
        assert after[f] == before[f], (f, before, after)
    b = clients("b")
    b.auth = auth                                # a device that never logs in again
    assert b.required() == "FULL_DOWNLOAD"
    b.download()
    assert_same_collection(dump_a, canonical_dump(b.col))
    # bob, who never synced before the restart, works too
    c = clients("c")
    c.login(s, "bob")
    assert c.required() == "NO_CHANGES"


NON_ASCII_DECKS = ["Übung", "Übung::Straße", "STRASSE", "Ελληνικά::Λέξεις", "Русский::Глаголы",
                   "日本語", "emoji 🦉"]
NON_ASCII_TAGS = ["Übung", "straße", "SS", "ΣΊΣΥΦΟΣ", "σίσυφος", "кириллица", "Ёлка", "日本"]


def test_non_ascii_names_survive_full_sync(srv, clients):
    a = clients("a")
    for i, deck in enumerate(NON_ASCII_DECKS):
        add_basic_notes(a.col, 3, deck=deck, notetype="Basic", prefix=f"{deck} ß Σ ё",
                        tags=(NON_ASCII_TAGS[i % len(NON_ASCII_TAGS)],
                              NON_ASCII_TAGS[(i + 3) % len(NON_ASCII_TAGS)]), seed=i)
    problems, ok = a.check_database()
    dump_before = canonical_dump(a.col)
    a.login(srv, "u7")
    assert a.required() == "FULL_UPLOAD"
    a.upload()
    b = clients("b")
    b.login(srv, "u7")
    assert b.required() == "FULL_DOWNLOAD"
    b.download()
    dump_a, dump_b = canonical_dump(a.col), canonical_dump(b.col)
    assert_same_collection(dump_a, dump_b)
    assert dump_b["deck_names"] == dump_before["deck_names"]
    for deck in ("Übung", "Ελληνικά::Λέξεις", "Русский::Глаголы", "日本語"):
        assert deck in dump_b["deck_names"], dump_b["deck_names"]
    problems, ok = b.check_database()
    assert ok, problems
    # searches that depend on the collation work in the downloaded copy
    assert len(b.col.find_notes('"deck:Übung"')) >= 3
    assert len(b.col.find_notes("tag:кириллица")) > 0


def test_login_error_kind_unchanged_by_full_sync(srv, clients):
    """A wrong password is still an auth error for a user with data."""
    c = clients("z")
    with pytest.raises(SyncError) as ei:
        c.login(srv, "u1", "wrong")
    assert ei.value.kind == SyncErrorKind.AUTH
