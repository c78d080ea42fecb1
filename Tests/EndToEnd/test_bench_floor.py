"""The benchmark's floor stand-in (`scripts/bench-floor-server.py`, `scripts/bench --floor`): a real
client's media sync through it must be a complete one, or the floor it measures is not what a
server's row is compared with. Runs once, with our suite (it tests a tool, not a server)."""

from __future__ import annotations

import os

import pytest

from test_media import local_files, media_sync, touch_folder


@pytest.mark.ours_only
def test_floor_stand_in_carries_a_real_media_sync_and_stores_nothing(make_server, clients):
    s = make_server(["alice:pw"], kind="floor")
    a = clients("a")
    a.login(s, "alice")
    for i in range(60):                         # three upload batches
        a.col.media.write_data(f"small_{i:02d}.jpg", os.urandom(1000 + i))
    a.col.media.write_data("large.mp4", os.urandom(3 << 20))   # a download zip is cut after it
    media_sync(a)
    a.col.media.trash_files(["small_07.jpg"])
    touch_folder(a)
    media_sync(a)

    b = clients("b")
    b.login(s, "alice")
    media_sync(b)
    got, sent = local_files(b), local_files(a)
    assert len(got) == 60 and got == sent

    with pytest.raises(Exception):                # a wrong password is refused, as by a server
        clients("c").login(s, "alice", "wrong")
    assert list(s.base.iterdir()) == []           # nothing written: its row is the client alone
