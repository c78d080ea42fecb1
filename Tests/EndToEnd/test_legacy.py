"""Older clients, sync protocol 8–10 (issue 6): multipart forms with gzip `data`, uncompressed
replies, schema-11 full sync, normal sync and media sync through the same engine.

No real legacy client is available, so these tests drive the server with hand-built requests
following PROTOCOL.md §3 and capture 24 (the field names and order an old client uses)."""
from __future__ import annotations

import gzip
import json
import os
import secrets
import sqlite3
import zlib
from pathlib import Path

import pytest

from helpers import (RawConn, Client, add_basic_notes, assert_plain_error, assert_same_collection,
                     build_rich_collection, canonical_dump, http_request, meta)

USERS = [f"l{i}:pw{i}" for i in range(1, 10)]
BOUNDARY = "Anki-sync-boundary"
CORRUPT_TEXT = "Your upload was corrupt"


# --------------------------------------------------------------------------
# a small legacy client
# --------------------------------------------------------------------------

def form(fields: dict, data: bytes | None, *, data_first: bool = False, boundary: str = BOUNDARY) -> bytes:
    """A multipart body as old clients build it: small fields, then `data` (or `data` first)."""
    parts = [b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
             % (boundary.encode(), k.encode(), str(v).encode()) for k, v in fields.items()]
    if data is not None:
        d = (b"--%s\r\nContent-Disposition: form-data; name=\"data\"; filename=\"data\"\r\n"
             b"Content-Type: application/octet-stream\r\n\r\n" % boundary.encode()) + data + b"\r\n"
        parts = [d] + parts if data_first else parts + [d]
    return b"".join(parts) + b"--%s--\r\n" % boundary.encode()


def legacy_request(port: int, method: str, payload=None, hkey: str | None = None, skey: str | None = None, *,
                   compress: bool = True, prefix: str = "sync", extra: dict | None = None,
                   data_first: bool = False, raw_data: bytes | None = None, c_flag: str | None = None,
                   content_type: str | None = None, body: bytes | None = None) -> bytes:
    fields: dict = {}
    if hkey is not None:
        fields["k"] = hkey
    if skey is not None:
        fields["s"] = skey
    fields["c"] = c_flag if c_flag is not None else ("1" if compress else "0")
    fields.update(extra or {})
    if raw_data is not None:
        data = raw_data
    elif payload is None:
        data = None
    else:
        data = payload if isinstance(payload, (bytes, bytearray)) else json.dumps(payload).encode()
        if compress:
            data = gzip.compress(bytes(data))
    if body is None:
        body = form(fields, data, data_first=data_first)
    headers = {"content-type": content_type or f"multipart/form-data; boundary={BOUNDARY}"}
    return http_request("POST", f"/{prefix}/{method}", body, headers, port=port)


def legacy(port: int, method: str, payload=None, hkey: str | None = None, skey: str | None = None, **kw):
    with RawConn(port, timeout=120) as c:
        return c.request(legacy_request(port, method, payload, hkey, skey, **kw))


def assert_legacy_ok(r):
    """A legacy success: 200, uncompressed, with a length and without anki-original-size."""
    assert r.status == 200, r
    assert "anki-original-size" not in r.headers, r
    assert "content-length" in r.headers, r
    assert not r.raw_body.startswith(b"\x28\xb5\x2f\xfd"), "legacy reply is zstd"


def login(srv, user: str) -> str:
    r = legacy(srv.port, "hostKey", {"u": user, "p": srv.password(user)})
    assert_legacy_ok(r)
    return r.json()["key"]


def legacy_meta(srv, k: str, v: int = 10) -> dict:
    r = legacy(srv.port, "meta", {"v": v, "cv": "ankidroid,2.15,linux"}, k, "legacy1")
    assert_legacy_ok(r)
    return r.json()


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(USERS, env={"MAX_SYNC_PAYLOAD_MEGS": "4"})


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    d = tmp_path_factory.mktemp("legacy-src")
    c = Client(d, "src")
    build_rich_collection(c.col, 150)
    c.close()
    return c.path


USN_TABLES = ("notes", "cards", "revlog", "graves", "decks", "deck_config", "notetypes", "templates", "tags", "config")


def legacy_upload_files(path: Path, folder: Path) -> tuple[Path, Path]:
    """What a legacy client uploads, made by the anki package: the collection with its pending
    usns cleared (as the client does before a full upload), written as schema 11. Returns the
    schema-11 file and a schema-18 copy of the same content, for comparison."""
    from anki.collection import Collection
    folder.mkdir(parents=True, exist_ok=True)
    ref = folder / "ref.anki2"
    ref.write_bytes(Path(path).read_bytes())
    col = Collection(str(ref))
    for t in USN_TABLES:
        col.db.execute(f"update {t} set usn = 0 where usn = -1")
    col.close()
    s11 = folder / "s11.anki2"
    s11.write_bytes(ref.read_bytes())
    col = Collection(str(s11))
    col.close(downgrade=True)
    return s11, ref


def col_ver(path: Path) -> int:
    db = sqlite3.connect(str(path))
    try:
        return db.execute("select ver from col").fetchone()[0]
    finally:
        db.close()


def comparable(d: dict) -> dict:
    """A dump without what schema 11 cannot carry (COLLECTION.md §6.3/§6.4: template mtime/usn,
    tag collapse state and config, config usn/mtime)."""
    d = dict(d)
    d["templates"] = [t[:3] + t[5:] for t in d["templates"]]
    d["tags"] = [t[:2] for t in d["tags"]]
    d["config"] = [(c[0], c[3]) for c in d["config"]]       # schema 11 keeps no per-key usn/mtime
    return d


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------

def test_login_meta_and_version_gates(srv):
    k = login(srv, "l1")
    assert k == srv.hkey("l1")
    r = legacy(srv.port, "hostKey", {"u": "l1", "p": "wrong"}, compress=False)
    assert_plain_error(r, 403)
    m = legacy_meta(srv, k)
    assert m["cont"] is True and m["msg"] == "" and m["hostNum"] == 0
    assert {"mod", "scm", "usn", "ts", "empty", "media_usn"} <= set(m)
    for too_old in (7, 12):
        r = legacy(srv.port, "meta", {"v": too_old, "cv": "old"}, k, "legacy1")
        assert_plain_error(r, 501)


def test_v8_client_refused_for_v2_scheduler(srv, clients, src):
    a = clients("gate-a", src)
    a.login(srv, "l2")
    a.upload()
    k = login(srv, "l2")
    m = legacy_meta(srv, k, v=8)
    assert m["cont"] is False and m["msg"] == "Your client does not support the v2 scheduler"


def test_full_download_is_schema11_and_matches(srv, clients, src, tmp_path, server_kind):
    a = clients("dl-a", src)
    a.login(srv, "l3")
    a.upload()
    k = login(srv, "l3")
    legacy_meta(srv, k)
    r = legacy(srv.port, "download", None, k, "legacy1", compress=False)
    assert_legacy_ok(r)
    assert r.raw_body[:16] == b"SQLite format 3\x00"
    assert r.raw_body[18:20] == b"\x01\x01", "a schema-11 download uses journal mode delete"
    path = tmp_path / "dl" / "collection.anki2"
    path.parent.mkdir()
    path.write_bytes(r.raw_body)
    assert col_ver(path) == 11
    from anki.collection import Collection
    col = Collection(str(path))
    try:
        assert_same_collection(comparable(canonical_dump(a.col)), comparable(canonical_dump(col)))
    finally:
        col.close()
    # the stored collection is still schema 18 and serves modern clients unchanged
    c = clients("dl-c")
    c.login(srv, "l3")
    assert c.required() == "FULL_DOWNLOAD"
    c.download()
    if server_kind == "ours":
        assert_same_collection(canonical_dump(a.col), canonical_dump(c.col))
    else:
        # the reference downgrades its live file for a legacy download, so its next open resets
        # what schema 11 cannot hold (config usn/mtime, …); ours downgrades a copy
        assert_same_collection(comparable(canonical_dump(a.col)), comparable(canonical_dump(c.col)))


def test_legacy_upload_then_modern_download(srv, clients, src, tmp_path):
    s11, ref_path = legacy_upload_files(src, tmp_path / "s11")
    assert col_ver(s11) == 11
    k = login(srv, "l4")
    legacy_meta(srv, k)
    r = legacy(srv.port, "upload", s11.read_bytes(), k, "legacy1")
    assert_legacy_ok(r)
    assert r.text == "OK", r
    b = clients("up-b")
    b.login(srv, "l4")
    assert b.required() == "FULL_DOWNLOAD"
    b.download()
    assert b.required() == "NO_CHANGES"
    ref = clients("up-ref", ref_path)
    assert_same_collection(comparable(canonical_dump(ref.col)), comparable(canonical_dump(b.col)))
    for t in USN_TABLES:
        assert b.col.db.scalar(f"select count() from {t} where usn = -1") == 0, t


@pytest.mark.ours_only
def test_large_uncompressed_upload_is_streamed(srv, clients, tmp_path):
    """A `data` part of several MiB with c=0 (spooled to disk by the worker, never held whole).
    Ours: the legacy body may reach 3 × MAX_SYNC_PAYLOAD_MEGS like a v11 one (the reference
    refuses a multipart body over MAX_SYNC_PAYLOAD_MEGS with 400, PROTOCOL.md §2.4)."""
    big = clients("big-src")
    add_basic_notes(big.col, 6000, prefix="large " + "x" * 200)
    big.close()
    s11, ref_path = legacy_upload_files(big.path, tmp_path / "big")
    assert s11.stat().st_size > 2 * 1024 * 1024
    k = login(srv, "l9")
    r = legacy(srv.port, "upload", s11.read_bytes(), k, "legacy1", compress=False)
    assert_legacy_ok(r)
    assert r.text == "OK", r
    b = clients("big-b")
    b.login(srv, "l9")
    b.download()
    assert b.count("notes") == 6000
    ref = clients("big-ref", ref_path)
    assert_same_collection(comparable(canonical_dump(ref.col)), comparable(canonical_dump(b.col)))


def test_legacy_normal_sync_pushes_a_note(srv, clients, src):
    a = clients("ns-a", src)
    a.login(srv, "l5")
    a.upload()
    port = srv.port
    k = login(srv, "l5")
    m = legacy_meta(srv, k)
    sk = "legacy" + secrets.token_hex(3)
    r = legacy(port, "start", {"minUsn": m["usn"], "lnewer": True, "graves": {"cards": [], "notes": [], "decks": []}}, k, sk)
    assert_legacy_ok(r)
    assert r.json() == {"cards": [], "decks": [], "notes": []}
    r = legacy(port, "applyChanges", {"changes": {"models": [], "decks": [[], []], "tags": ["legacy"]}}, k, sk)
    assert_legacy_ok(r)
    while True:
        c = legacy(port, "chunk", {"_pad": None}, k, sk).json()
        if c["done"]:
            break
    nt = a.col.models.by_name("Basic")
    did = a.col.decks.id("Default")
    nid, cid = 1796000000001, 1796000000002
    # clients stamp outgoing rows with the server's usn
    note = [nid, "legacyGUID1", nt["id"], 1796000000, m["usn"], " legacy ", "from legacy\x1fback", "", "", 0, ""]
    card = [cid, nid, did, 0, 1796000000, m["usn"], 0, 0, 99999, 0, 0, 0, 0, 0, 0, 0, 0, ""]
    r = legacy(port, "applyChunk", {"chunk": {"done": True, "notes": [note], "cards": [card]}}, k, sk)
    assert_legacy_ok(r)
    counts = [[0, 0, 0], a.count("cards") + 1, a.count("notes") + 1, a.count("revlog"), 0,
              len(a.col.models.all_names_and_ids()), a.count("decks"), a.count("deck_config")]
    s = legacy(port, "sanityCheck2", {"client": counts}, k, sk).json()
    assert s["status"] == "ok", s
    t = legacy(port, "finish", {"_pad": None}, k, sk).json()
    assert isinstance(t, int)
    m2 = legacy_meta(srv, k)
    assert m2["usn"] == m["usn"] + 1 and m2["mod"] == t, (m, m2)
    a.sync()                        # a normal sync: the client receives the legacy client's note
    assert a.col.db.scalar("select flds from notes where id = ?", nid) == "from legacy\x1fback"
    assert a.col.db.scalar("select count() from cards where nid = ?", nid) == 1


def media_zip(entries: dict[str, bytes | None]) -> bytes:
    import io
    import zipfile
    buf = io.BytesIO()
    meta_list = []
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for i, (name, data) in enumerate(entries.items()):
            if data is None:
                meta_list.append([name, ""])          # old clients mark a deletion with ""
            else:
                z.writestr(str(i), data)
                meta_list.append([name, str(i)])
        z.writestr("_meta", json.dumps(meta_list))
    return buf.getvalue()


def test_legacy_media_begin_upload_download(srv):
    port = srv.port
    k = login(srv, "l6")
    with RawConn(port) as c:
        r = c.request(http_request("GET", f"/msync/begin?k={k}&v=ankidroid,2.15,linux", port=port))
    assert_legacy_ok(r)
    assert r.json() == {"data": {"usn": 0, "sk": k}, "err": ""}
    r = legacy(port, "begin", None, k, prefix="msync", compress=False, extra={"v": "ankidroid,2.15,linux"})
    assert_legacy_ok(r)
    sk = r.json()["data"]["sk"]
    # upload with the media session key as `sk`, deflate zip, c=0 (the zip is compressed already)
    zdata = media_zip({"a.txt": b"hello legacy", "b.txt": b"second"})
    r = legacy(port, "uploadChanges", zdata, None, compress=False, prefix="msync", extra={"sk": sk})
    assert_legacy_ok(r)
    processed, usn = r.json()["data"]
    assert processed == 2 and usn >= 1 and r.json()["err"] == ""
    r = legacy(port, "uploadChanges", media_zip({"b.txt": None}), None, compress=False, prefix="msync", extra={"sk": sk})
    assert_legacy_ok(r)
    assert r.json()["data"] == [1, usn + 1]
    r = legacy(port, "mediaChanges", {"lastUsn": 0}, None, prefix="msync", extra={"sk": sk})
    assert_legacy_ok(r)
    assert sorted(x[0] for x in r.json()["data"]) == ["a.txt", "b.txt"]
    assert [x for x in r.json()["data"] if x[0] == "b.txt"][0][2] == ""
    r = legacy(port, "downloadFiles", {"files": ["a.txt"]}, None, prefix="msync", extra={"sk": sk})
    assert_legacy_ok(r)
    import io
    import zipfile
    z = zipfile.ZipFile(io.BytesIO(r.raw_body))
    names = json.loads(z.read("_meta"))
    assert z.read(next(n for n, f in names.items() if f == "a.txt")) == b"hello legacy"
    r = legacy(port, "mediaSanity", {"local": 1}, None, prefix="msync", extra={"sk": sk})
    assert r.json() == {"data": "OK", "err": ""}


def test_key_after_data_is_routed(srv):
    """`k` may come after a large `data` part: the form is read far enough to find it."""
    k = srv.hkey("l7")
    payload = json.dumps({"v": 10, "cv": "x", "pad": "p" * 60000}).encode()
    r = legacy(srv.port, "meta", payload, k, "s1", compress=False, data_first=True)
    assert_legacy_ok(r)
    assert r.json()["cont"] is True


def test_keep_alive_mixes_legacy_and_v11(srv):
    """Each request on a kept-alive connection is routed on its own, legacy or not."""
    k = srv.hkey("l7")
    from helpers import v11_request
    with RawConn(srv.port) as c:
        for _ in range(2):
            r = c.request(legacy_request(srv.port, "meta", {"v": 10, "cv": "x"}, k, "s1"))
            assert_legacy_ok(r)
            r = c.request(http_request("GET", f"/msync/begin?k={k}&v=x", port=srv.port))
            assert_legacy_ok(r)
            r = c.request(v11_request("meta", {"v": 11, "cv": "anki,26.09.3 (e2e),linux"}, k, "s2", port=srv.port))
            assert r.status == 200 and "anki-original-size" in r.headers, r


# --------------------------------------------------------------------------
# bad input: 400 with a reason, nothing stored
# --------------------------------------------------------------------------

def stored_state(srv, user):
    r = meta(srv.port, srv.hkey(user))
    assert r.status == 200
    j = r.json()
    return j["mod"], j["scm"], j["usn"]


def assert_400_with_reason(r):
    """400; ours also says why (the reference answers the bare digits)."""
    assert_plain_error(r, 400)
    if os.environ.get("E2E_SERVER", "ours") == "ours":
        assert r.text.strip() and r.text.strip() != "400", r


def test_bad_forms_are_400(srv, server_kind):
    port = srv.port
    k = srv.hkey("l8")
    before = stored_state(srv, "l8")
    # no k at all (the reference treats a missing k as an unknown key: 403)
    r = legacy(port, "meta", {"v": 10, "cv": "x"}, None, "s")
    if server_kind == "ours":
        assert_400_with_reason(r)
    else:
        assert r.status in (400, 403), r
    # no k within the bound, with a data part larger than the supervisor reads
    if server_kind == "ours":
        big = b"x" * 400_000
        assert_400_with_reason(legacy(port, "upload", big, None, "s", compress=False))
    # malformed boundary: content-type without a boundary, and a body whose boundary differs
    assert_400_with_reason(legacy(port, "meta", {"v": 10}, k, "s", content_type="multipart/form-data"))
    body = form({"k": k, "c": "0"}, b'{"v":10}', boundary="other-boundary")
    assert_400_with_reason(legacy(port, "meta", body=body))
    # a login or a GET msync/begin without what they need
    assert_400_with_reason(legacy(port, "hostKey", body=b""))
    with RawConn(port) as c:
        assert_400_with_reason(c.request(http_request("GET", "/msync/begin?v=ankidroid,2.15", port=port)))
    # not multipart at all
    assert_400_with_reason(legacy(port, "meta", body=b'{"v":10}', content_type="application/json"))
    # c=1 but the data is not gzip; c=0 but the data is gzip
    assert_400_with_reason(legacy(port, "meta", raw_data=b'{"v":10,"cv":"x"}', hkey=k, skey="s", c_flag="1"))
    assert_400_with_reason(legacy(port, "meta", raw_data=gzip.compress(b'{"v":10,"cv":"x"}'), hkey=k, skey="s",
                                  c_flag="0"))
    # gzip bombs: JSON and a collection upload that inflate past 3 × MAX_SYNC_PAYLOAD_MEGS (4)
    bomb = gzip.compress(b"{" + b" " * (13 * 1024 * 1024) + b"}")
    assert_400_with_reason(legacy(port, "meta", raw_data=bomb, hkey=k, skey="s", c_flag="1"))
    bomb = gzip.compress(b"SQLite format 3\x00" + bytes(13 * 1024 * 1024))
    r = legacy(port, "upload", raw_data=bomb, hkey=k, skey="s", c_flag="1")
    if server_kind == "ours":
        assert_400_with_reason(r)
    else:
        assert r.status in (200, 400) and r.text != "OK", r
    assert stored_state(srv, "l8") == before
    base = Path(srv.base) / "l8"
    assert not [p for p in base.iterdir() if p.name.startswith(".upload-")]
