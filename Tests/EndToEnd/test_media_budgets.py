"""Media upload budgets (issue 15 item 4): an upload zip is checked against named budgets
(member count, total inflated size, no duplicate or overlapping members) and its file names
against the client's own normalisation (MEDIA.md 6.3) before a byte is written.

The official server has none of these budgets (a 2.5 MB zip of 25 members of 100 MiB zeros
makes it write 2.5 GiB) and stores names like "\\n" or " " that then break media sync on every
device of the account, so the refusals are `ours_only`; the tests that a real client still
syncs afterwards, and that deletes of such names stay possible, run against both servers.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import struct
import zlib
from pathlib import Path

import pytest

from helpers import assert_plain_error
from test_media import (all_changes, data_of, local_files, make_zip, mcall, media_sync,
                        server_files, touch_folder, upload, usn_of)

USERS = [f"b{i}:pw{i}" for i in range(1, 6)]
MIB = 2**20
# MediaLimits.maxUploadInflatedBytes: the client's 2.5 MiB fill target plus one 100 MiB file.
UPLOAD_BUDGET = 2_621_440 + 100 * MIB


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(USERS)


# --------------------------------------------------------------------------
# a raw zip writer: members may share bytes, repeat names or lie about sizes
# --------------------------------------------------------------------------

def raw_zip(members, shared_data: list[int] | None = None) -> bytes:
    """members: (name, method, compressed bytes, declared size, crc). With `shared_data`, the
    central entries listed there point at member 0's local header (overlapping members)."""
    out = bytearray()
    central = bytearray()
    offsets = []
    for i, (name, method, data, size, crc) in enumerate(members):
        n = name.encode()
        if shared_data and i in shared_data:
            offsets.append(offsets[0])
        else:
            offsets.append(len(out))
            out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), size, len(n), 0)
            out += n + data
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc, len(data), size,
                               len(n), 0, 0, 0, 0, 0, offsets[i]) + n
    cd_offset = len(out)
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), cd_offset, 0)
    return bytes(out)


def deflated(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def stored_member(name: str, data: bytes):
    return (name, 0, data, len(data), zlib.crc32(data))


def meta_member(entries) -> tuple:
    return stored_member("_meta", json.dumps(entries).encode())


def zeros_member(name: str, size: int, compressed: bytes):
    return (name, 8, compressed, size, zlib.crc32(bytes(size)))


# --------------------------------------------------------------------------
# what the server holds
# --------------------------------------------------------------------------

def snapshot(srv, user):
    """Everything an upload could change: files, media.db rows and usn, staging leftovers."""
    base = srv.base / user
    rows = [(0,)]                       # no media.db yet: no rows, usn 0
    if (base / "media.db").exists():
        with sqlite3.connect(f"file:{base / 'media.db'}?mode=ro", uri=True) as db:
            rows = db.execute("select fname, usn, csum from media order by fname").fetchall()
            rows.append(db.execute("select last_usn from meta").fetchone())
    staging = base / ".media-staging"
    leftovers = sorted(p.name for p in staging.iterdir()) if staging.exists() else []
    return server_files(srv, user), rows, leftovers


def assert_refused_unchanged(srv, user, body: bytes, *reason_words: str):
    usn = usn_of(srv, user)             # first: a user's first request creates media.db
    before = snapshot(srv, user)
    r = mcall(srv, user, "uploadChanges", body)
    assert_plain_error(r, 400)
    for word in reason_words:
        assert word in r.text, (word, r.text)
    assert usn_of(srv, user) == usn
    assert snapshot(srv, user) == before
    return r


# --------------------------------------------------------------------------
# budgets (ours only: the official server has none)
# --------------------------------------------------------------------------

@pytest.mark.ours_only
def test_zip_bomb_refused_before_anything_is_written(srv):
    """25 members of 100 MiB zeros (a 2.5 MB zip): each member is within the file limit, the
    total is 25 times the budget; refused with the budget named, nothing written."""
    u = "b1"
    assert data_of(upload(srv, u, [["base.txt", "0"]], {"0": b"base"})) == [1, 1]
    zeros = deflated(bytes(100 * MIB))
    members = [zeros_member(str(i), 100 * MIB, zeros) for i in range(25)]
    body = raw_zip(members + [meta_member([[f"zero{i}.bin", str(i)] for i in range(25)])])
    assert len(body) < 3 * MIB
    r = assert_refused_unchanged(srv, u, body, str(UPLOAD_BUDGET))
    assert "inflate" in r.text
    # The same bytes as overlapping members (all entries share one compressed stream).
    overlap = raw_zip(members[:5] + [meta_member([[f"z{i}.bin", str(i)] for i in range(5)])], shared_data=[1, 2, 3, 4])
    assert_refused_unchanged(srv, u, overlap, "overlap")
    # Exactly the budget passes: the largest legal upload (2.5 MiB of small files + 100 MiB).
    small = [stored_member(str(i), bytes([i]) * (2_621_440 // 5)) for i in range(5)]
    big = zeros_member("5", 100 * MIB, zeros)
    legal = raw_zip(small + [big, meta_member([[f"s{i}.bin", str(i)] for i in range(5)] + [["big.bin", "5"]])])
    assert data_of(mcall(srv, u, "uploadChanges", legal)) == [6, 7]
    assert (srv.base / u / "media" / "big.bin").stat().st_size == 100 * MIB


@pytest.mark.ours_only
def test_member_count_duplicates_and_lying_sizes_refused(srv):
    u = "b2"
    assert data_of(upload(srv, u, [["base.txt", "0"]], {"0": b"base"})) == [1, 1]
    # More members than 25 files and _meta, even if _meta names only one of them.
    many = [stored_member(str(i), b"x") for i in range(26)]
    assert_refused_unchanged(srv, u, raw_zip(many + [meta_member([["one.txt", "0"]])]), "26 (25 files and _meta)")
    # Two members with one name.
    dup = raw_zip([stored_member("0", b"first"), stored_member("0", b"second"), meta_member([["d.txt", "0"]])])
    assert_refused_unchanged(srv, u, dup, "two members")
    # A member that inflates past the size it declares.
    big = bytes(MIB)
    liar = ("0", 8, deflated(big), 10, zlib.crc32(big))
    assert_refused_unchanged(srv, u, raw_zip([liar, meta_member([["liar.bin", "0"]])]), "declares")
    assert all_changes(srv, u) == [["base.txt", 1, hashlib.sha1(b"base").hexdigest()]]


# Names a new file may not have (MEDIA.md 6.3), and names just inside the rules.
REFUSED_NAMES = ["\n", " ", "a?b", "con.jpg", "CON", "lpt9.txt", "test.", "x\u00a0y.jpg", "tab\there.txt", "a:b.png",
                 "star*.jpg", "n" * 117 + ".txt", "\u0378.txt", "b\U0001F970.png"]
ACCEPTED_NAMES = ["console.jpg", "com10.txt", "lpt0.txt", "a b.jpg", "n" * 116 + ".txt", "é.jpg", "Upper.MP3", "_x.css",
                  "a\U0001F92A.png"]


def test_name_rules_match_the_real_clients_normalisation(tmp_path):
    """The names refused below are exactly those the real client rewrites when it adds a file
    (its add-file call also lowercases, which is not part of the rule, so case is ignored)."""
    from anki.collection import Collection
    col = Collection(str(tmp_path / "c.anki2"))
    try:
        for i, name in enumerate(REFUSED_NAMES + ACCEPTED_NAMES):
            try:
                stored = col.media.write_data(name, f"content {i}".encode())
            except Exception:  # noqa: BLE001  (the client refuses a name that normalises to nothing)
                stored = None
            changed = stored is None or stored.lower() != name.lower()
            assert changed == (name in REFUSED_NAMES), (name, stored)
    finally:
        col.close()


@pytest.mark.ours_only
@pytest.mark.parametrize("name", REFUSED_NAMES)
def test_names_the_client_would_change_are_refused(srv, name):
    u = "b3"
    r = assert_refused_unchanged(srv, u, make_zip([["fine.txt", "0"], [name, "1"]], {"0": b"fine", "1": b"bad"}))
    assert "file name" in r.text


@pytest.mark.ours_only
def test_names_just_inside_the_rules_are_accepted(srv):
    u = "b4"
    names = ACCEPTED_NAMES
    r = upload(srv, u, [[n, str(i)] for i, n in enumerate(names)], {str(i): n.encode() for i, n in enumerate(names)})
    assert data_of(r) == [len(names), len(names)]
    assert sorted(server_files(srv, u)) == sorted(names)


# --------------------------------------------------------------------------
# deletes stay lenient (both servers); a real client syncs afterwards
# --------------------------------------------------------------------------

def test_deleting_odd_names_stays_possible(srv):
    """A client deletes names a lenient server once sent it (MEDIA.md 6.5); those deletes must
    not be refused, or its media sync would fail for good."""
    u = "b5"
    r = upload(srv, u, [["what?.txt", None], ["trail ", None], ["con.jpg", None]])
    assert data_of(r)[0] == 3


@pytest.mark.ours_only
def test_real_client_syncs_after_refused_uploads(srv, clients):
    """After the refusals above, a fresh real client media-syncs the account without error, and
    a second one receives its files. (The official server stores those names instead, and the
    same client then fails; see the module docstring.)"""
    u = "b3"
    a = clients("budget-a")
    a.login(srv, u)
    if a.required() != "NO_CHANGES":
        a.upload()
    names = ["photo.jpg", "sound.mp3", "日本語.png"]
    for n in names:
        a.col.media.write_data(n, n.encode() * 10)
    touch_folder(a)
    media_sync(a)
    assert sorted(server_files(srv, u)) == sorted(names)
    b = clients("budget-b")
    b.login(srv, u)
    b.download()
    media_sync(b)
    assert {os.fsdecode(k) for k in local_files(b)} == set(names)
    assert data_of(mcall(srv, u, "mediaSanity", {"local": len(names)})) == "OK"
