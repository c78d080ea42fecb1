"""Connections a worker keeps after answering (SYNC_WORKER_HOLD_MS, issue 18): the same account's
next request is served by the worker itself; everything else still goes through the front door,
so one connection can never carry a request into another account's worker. Our server only."""
from __future__ import annotations

import re
import time

import pytest

import helpers
from helpers import RawConn, v11_request

pytestmark = pytest.mark.ours_only

CV = "anki,26.09.3 (e2e),linux"


def meta_request(srv, user: str, headers: dict | None = None) -> bytes:
    if not headers:
        return v11_request("meta", {"v": 11, "cv": CV}, srv.hkey(user), "m1", port=srv.port)
    raw = v11_request("meta", {"v": 11, "cv": CV}, srv.hkey(user), "m1", port=srv.port)
    head, _, rest = raw.partition(b"\r\n")
    extra = b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
    return head + b"\r\n" + extra + rest


def request_lines(srv, user: str) -> list[str]:
    """The worker's log lines for `user`'s requests, in order."""
    text = srv.log_path.read_text(errors="replace")
    return [line for line in text.splitlines() if re.search(rf"worker:{user} request .*method=", line)]


def via(lines: list[str]) -> list[str]:
    return [re.search(r"via=(\S+)", line).group(1) for line in lines]


def wait_for_lines(srv, user: str, n: int) -> list[str]:
    helpers.wait_until(lambda: len(request_lines(srv, user)) >= n, msg=f"{n} request lines for {user}")
    return request_lines(srv, user)


def test_one_connection_carries_two_accounts_each_to_its_own_worker(make_server, clients):
    srv = make_server(["alice:pw1", "bob:pw2"])
    # bob's collection has notes, alice's is empty: meta tells whose worker answered.
    bob = clients("bob")
    helpers.add_basic_notes(bob.col, 3)
    bob.login(srv, "bob")
    bob.sync()
    bob.upload()
    with RawConn(srv.port) as c:
        assert c.request(meta_request(srv, "alice")).json()["empty"] is True
        assert c.request(meta_request(srv, "alice")).json()["empty"] is True      # held by alice's worker
        assert c.request(meta_request(srv, "bob")).json()["empty"] is False       # ... which gave it back
        assert c.request(meta_request(srv, "bob")).json()["empty"] is False
        assert c.request(meta_request(srv, "alice")).json()["empty"] is True
        login = c.request(v11_request("hostKey", {"u": "bob", "p": "pw2"}, port=srv.port))
        assert login.status == 200 and login.json()["key"] == srv.hkey("bob")
        stranger = c.request(v11_request("meta", {"v": 11, "cv": CV}, "0" * 40, "m1", port=srv.port))
        assert stranger.status == 403, stranger
    assert via(wait_for_lines(srv, "alice", 3)) == ["front-door", "held", "front-door"]
    assert via(wait_for_lines(srv, "bob", 2))[-2:] == ["front-door", "held"]


def test_behind_a_proxy_another_client_address_goes_through_the_front_door(make_server):
    srv = make_server(["alice:pw1"], env={"SYNC_IP_HEADER": "XRealIp"})
    with RawConn(srv.port) as c:
        for ip in ("10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.2"):
            r = c.request(meta_request(srv, "alice", {"x-real-ip": ip}))
            assert r.status == 200, r
    assert via(wait_for_lines(srv, "alice", 4)) == ["front-door", "held", "front-door", "held"]


def test_held_connection_gives_way_to_a_waiting_request(make_server):
    # One request thread, held for up to 5 s: a second connection must not wait for the hold.
    srv = make_server(["alice:pw1"], env={"SYNC_WORKER_MAX_REQUESTS": "1", "SYNC_WORKER_HOLD_MS": "5000"})
    with RawConn(srv.port) as a, RawConn(srv.port) as b:
        assert a.request(meta_request(srv, "alice")).status == 200
        wait_for_lines(srv, "alice", 1)
        started = time.monotonic()
        assert b.request(meta_request(srv, "alice")).status == 200
        waited = time.monotonic() - started
        assert waited < 2.5, f"the second connection waited {waited:.2f} s for a held one"
        # The first connection went back to the front door and still works.
        assert a.request(meta_request(srv, "alice")).status == 200


def test_a_stopping_server_does_not_wait_for_held_connections(make_server):
    srv = make_server(["alice:pw1"], env={"SYNC_WORKER_HOLD_MS": "5000"})
    with RawConn(srv.port) as c:
        assert c.request(meta_request(srv, "alice")).status == 200
        wait_for_lines(srv, "alice", 1)
        started = time.monotonic()
        srv.stop()
        assert time.monotonic() - started < 4, "shutdown waited for the hold to run out"


@pytest.mark.parametrize("hold", ["0", "500"])
def test_real_client_syncs_with_and_without_holding(make_server, clients, hold):
    srv = make_server(["alice:pw1"], env={"SYNC_WORKER_HOLD_MS": hold})
    a, b = helpers.two_devices(srv, clients, "alice", notes=30)
    helpers.add_basic_notes(b.col, 7, prefix="from b")
    helpers.answer_some_cards(b.col, 5)
    assert b.required() == "NO_CHANGES"
    assert a.required() == "NO_CHANGES"
    assert a.count("notes") == b.count("notes") == 37
    for sql in ("select id, flds from notes order by id", "select id, ivl, due, queue from cards order by id",
                "select id, cid, ease from revlog order by id"):
        assert a.col.db.all(sql) == b.col.db.all(sql), sql
    kinds = set(via(request_lines(srv, "alice")))
    assert kinds == ({"front-door"} if hold == "0" else {"front-door", "held"}), kinds
