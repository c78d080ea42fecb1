"""The server's chunks in a normal sync (issue 18): up to 1,000 objects each (the reference sends
250, so a large pull takes four times the round trips), and no more rows once 2 MiB of JSON are
written, so a chunk of large notes stays smaller than the reference's. Our server only."""
from __future__ import annotations

import os
import time

import pytest

import helpers
from helpers import v11

pytestmark = pytest.mark.ours_only

BUDGET = 2 << 20
BIG_FIELD = 150_000          # characters of one large note's back field


def add_big_notes(col, n: int):
    from anki.collection import AddNoteRequest
    nt = col.models.by_name("Basic")
    reqs = []
    for i in range(n):
        note = col.new_note(nt)
        note["Front"] = f"big {i}"
        note["Back"] = os.urandom(BIG_FIELD // 2).hex()
        reqs.append(AddNoteRequest(note=note, deck_id=1))
    col.add_notes(reqs)


def uploaded(make_server, clients, notes: int):
    """A server whose user alice has a collection of `notes` notes, uploaded by device `a`."""
    srv = make_server(["alice:pw"])
    a = clients("a")
    helpers.add_basic_notes(a.col, notes)
    a.login(srv, "alice")
    a.sync()
    a.upload()
    return srv, a


def chunks_of_a_session(srv, key: str) -> list[tuple[int, dict]]:
    """(JSON size, decoded chunk) of every chunk of a by-hand session that pulls everything."""
    port = srv.port
    assert v11(port, "start", {"minUsn": 0, "lnewer": False}, key, "c1").status == 200
    assert v11(port, "applyChanges", {"changes": {"models": [], "decks": [[], []], "tags": []}}, key, "c1").status == 200
    out = []
    while True:
        r = v11(port, "chunk", {"_pad": None}, key, "c1")
        assert r.status == 200, r
        out.append((len(r.body), r.json()))
        if out[-1][1]["done"]:
            break
        assert len(out) < 200, "the chunks never end"
    assert v11(port, "abort", {}, key, "c1").status == 200
    return out


def test_a_pull_of_large_and_small_notes_arrives_whole_in_bounded_chunks(make_server, clients):
    srv = make_server(["alice:pw"])
    a, b = helpers.two_devices(srv, clients, "alice", notes=10)
    add_big_notes(a.col, 30)                                    # 30 × 150 KB: 4.5 MB of notes
    helpers.add_basic_notes(a.col, 1200, prefix="small", seed=5)  # 1,200 notes, 2,400 cards
    assert a.required() == "NO_CHANGES"                         # pushed
    assert b.required() == "NO_CHANGES"                         # pulled in server chunks
    for sql in ("select id, mod, flds from notes order by id", "select id, nid, ord, due from cards order by id"):
        assert a.col.db.all(sql) == b.col.db.all(sql), sql

    chunks = chunks_of_a_session(srv, srv.hkey("alice"))
    sizes = [size for size, _ in chunks]
    counts = [sum(len(c.get(k, [])) for k in ("revlog", "cards", "notes")) for _, c in chunks]
    # The budget is checked before each row: a chunk ends at most one row past it.
    assert max(sizes) < BUDGET + BIG_FIELD + 1024, sizes
    assert max(counts) <= 1002, counts
    assert max(counts) > 252, f"no chunk above the reference's 250 objects: {counts}"
    assert len(chunks) >= 3, "4.5 MB of notes must take more than one chunk"
    assert [c["done"] for _, c in chunks] == [False] * (len(chunks) - 1) + [True]
    notes = [n[0] for _, c in chunks for n in c.get("notes", [])]
    cards = [x[0] for _, c in chunks for x in c.get("cards", [])]
    assert sorted(notes) == sorted(set(notes)) and len(notes) == a.count("notes"), "every note once"
    assert len(cards) == len(set(cards)) == a.count("cards"), "every card once"


def test_a_large_push_is_checkpointed_when_the_worker_is_idle(make_server, clients):
    """A commit no longer pays for folding a large WAL into the file (SQLite's automatic checkpoint
    starts at 8,192 pages here); the worker does it once idle, so the WAL is emptied and the file a
    backup script copies holds the sync."""
    srv, a = uploaded(make_server, clients, notes=10)
    helpers.add_basic_notes(a.col, 3000, prefix="bulk", seed=9)
    assert a.required() == "NO_CHANGES"
    wal = srv.base / "alice" / "collection.anki2-wal"
    helpers.wait_until(lambda: wal.exists() and wal.stat().st_size == 0, timeout=15,
                       msg="the idle worker checkpointed the WAL")
    assert helpers.meta(srv.port, srv.hkey("alice")).json()["usn"] >= 1


def test_a_client_chunk_that_cannot_be_stored_after_its_answer_fails_the_next_step(make_server, clients):
    """A chunk that is not the last is answered before it is stored (so storing overlaps the client's
    next chunk); a problem found while storing rolls the session back and the next step says why."""
    srv, a = uploaded(make_server, clients, notes=5)
    key, port = srv.hkey("alice"), srv.port
    before = helpers.meta(port, key).json()
    assert v11(port, "start", {"minUsn": before["usn"], "lnewer": True}, key, "d1").status == 200
    good = [[1_700_000_000_001, "gA", a.col.models.by_name("Basic")["id"], 1_700_000_000, -1, "", "f\x1fb", "", "", 0, ""]]
    assert v11(port, "applyChunk", {"chunk": {"done": False, "notes": good}}, key, "d1").status == 200
    orphan = [[1_700_000_000_002, "gB", 424242, 1_700_000_000, -1, "", "f\x1fb", "", "", 0, ""]]   # no such notetype
    assert v11(port, "applyChunk", {"chunk": {"done": False, "notes": orphan}}, key, "d1").status == 200
    r = v11(port, "applyChunk", {"chunk": {"done": True}}, key, "d1")
    helpers.assert_plain_error(r, 400)
    assert "424242" in r.text, r.text
    helpers.assert_plain_error(v11(port, "sanityCheck2", {"client": [[0, 0, 0], 0, 0, 0, 0, 0, 0, 0]}, key, "d1"), 409)
    after = helpers.meta(port, key).json()
    assert (after["usn"], after["mod"]) == (before["usn"], before["mod"]), "nothing of the session was kept"
    b = clients("b")
    b.login(srv, "alice")
    b.sync()
    b.download()
    assert b.count("notes") == 5
    assert b.col.db.scalar("select count() from notes where id = 1700000000001") == 0


def test_a_step_between_server_chunks_is_seen_by_the_next_chunk(make_server, clients):
    """The next chunk is built while the client stores the last one; a different step in between
    (not what clients do, but allowed) sends it back, so no object is lost, doubled or stale."""
    srv, a = uploaded(make_server, clients, notes=1500)
    key, port = srv.hkey("alice"), srv.port
    m = helpers.meta(port, key).json()
    assert v11(port, "start", {"minUsn": 0, "lnewer": False}, key, "p1").status == 200
    assert v11(port, "applyChanges", {"changes": {"models": [], "decks": [[], []], "tags": []}}, key, "p1").status == 200

    def edit(nid: int, guid: str, mid: int, text: str):
        row = [nid, guid, mid, int(time.time()) + 100, -1, "", text, "", "", 0, ""]
        assert v11(port, "applyChunk", {"chunk": {"done": False, "notes": [row]}}, key, "p1").status == 200

    newest = a.col.db.first("select id, guid, mid from notes order by id desc")
    edit(*newest, "edited before the first chunk\x1fback")     # the first chunk was built already
    first = v11(port, "chunk", {"_pad": None}, key, "p1").json()
    assert not first["done"]
    seen = {n[0] for n in first["notes"]}
    nid, guid, mid = next(r for r in a.col.db.all("select id, guid, mid from notes order by id desc") if r[0] not in seen)
    edit(nid, guid, mid, "edited between chunks\x1fback")
    chunks = [first]
    while not chunks[-1]["done"]:
        chunks.append(v11(port, "chunk", {"_pad": None}, key, "p1").json())
    notes = {n[0]: n for c in chunks for n in c.get("notes", [])}
    assert sum(len(c.get("notes", [])) for c in chunks) == len(notes) == a.count("notes"), "every note once"
    assert sum(len(c.get("cards", [])) for c in chunks) == a.count("cards"), "every card once"
    assert notes[nid][6] == "edited between chunks\x1fback"
    assert notes[newest[0]][6] == "edited before the first chunk\x1fback"
    assert v11(port, "abort", {}, key, "p1").status == 200
    assert helpers.meta(port, key).json()["usn"] == m["usn"]
