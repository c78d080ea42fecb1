"""Media upload crash windows, end to end: what a worker killed between an upload's commit and
the moves of its files into media/ leaves behind, and the next worker's recovery, seen by a real
client. (The window is microseconds wide, so its state is laid down with the server stopped:
the committed rows and their `pending_moves`, the files still staged.) Ours only."""

from __future__ import annotations

import os
import sqlite3

import pytest

from test_media import local_files, media_sync, server_files, touch_folder


@pytest.mark.ours_only
def test_commit_whose_moves_were_cut_off_is_finished_at_the_next_start(make_server, clients, tmp_path):
    s = make_server(["alice:pw"], base=tmp_path / "base")
    a = clients("a")
    a.login(s, "alice")
    a.col.media.write_data("one.txt", b"first")
    a.col.media.write_data("two.txt", b"second")
    a.col.media.write_data("gone.txt", b"deleted later")
    media_sync(a)
    a.col.media.trash_files(["gone.txt"])
    touch_folder(a)
    media_sync(a)
    s.stop()

    user = s.base / "alice"
    staging = user / ".media-staging"
    con = sqlite3.connect(user / "media.db")
    try:
        for usn, name, size in con.execute("SELECT usn, fname, size FROM media").fetchall():
            if size > 0:        # committed, but the file never left the staging folder
                os.rename(user / "media" / name, staging / f"s-killed-{usn}")
                con.execute("INSERT OR REPLACE INTO pending_moves (usn, staged) VALUES (?, ?)", (usn, f"s-killed-{usn}"))
            else:               # a committed deletion whose file was never removed
                (user / "media" / name).write_bytes(b"deleted later")
                con.execute("INSERT OR REPLACE INTO pending_moves (usn, staged) VALUES (?, '')", (usn,))
        con.commit()
    finally:
        con.close()
    (staging / "s-killed-uncommitted").write_bytes(b"no commit lists this")
    assert server_files(s, "alice") == {"gone.txt": b"deleted later"}

    s.start()
    b = clients("b")
    b.login(s, "alice")
    media_sync(b)
    assert local_files(b) == {b"one.txt": b"first", b"two.txt": b"second"}
    assert server_files(s, "alice") == {"one.txt": b"first", "two.txt": b"second"}
    assert list(staging.iterdir()) == []
    con = sqlite3.connect(user / "media.db")
    try:
        assert con.execute("SELECT count(*) FROM pending_moves").fetchone()[0] == 0
    finally:
        con.close()
