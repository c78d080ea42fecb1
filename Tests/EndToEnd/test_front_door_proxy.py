"""The front door behind nginx (issue 15): every request reaches the server from nginx's address,
so attacker and family share one peer. Stalled uploads and idle connections through the proxy
leave another user's syncs alone. Uses the nginx fixture of test_deploy (Debian's nginx)."""
from __future__ import annotations

import socket

import pytest

import helpers
from test_deploy import nginx_bin, nginx_front  # noqa: F401  (fixtures)

pytestmark = pytest.mark.ours_only


def test_stalled_uploads_and_idle_connections_through_nginx_leave_bob_alone(nginx_front, clients):  # noqa: F811
    srv, (_http, _https, plain_port), _tmp = nginx_front
    key = srv.hkey("alice")
    held = []
    try:
        # nginx in the test runs with worker_connections 128: 25 stalled uploads (client + upstream
        # each) and 30 idle clients stay inside it.
        for _ in range(25):
            s = socket.create_connection((helpers.HOST, plain_port), timeout=10)
            s.sendall((f"POST /anki/sync/upload HTTP/1.1\r\nhost: x\r\nanki-sync: {helpers.sync_header(key)}\r\n"
                       "transfer-encoding: chunked\r\n\r\n10\r\n").encode())
            held.append(s)
        for _ in range(30):
            held.append(socket.create_connection((helpers.HOST, plain_port), timeout=10))
        helpers.wait_until(lambda: "alice" in srv.workers(), msg="the uploads reached alice's worker")
        bob = clients("bob")
        bob.login(f"http://{helpers.HOST}:{plain_port}/anki/", "bob", "pb")
        helpers.add_basic_notes(bob.col, 5, notetype="Basic")
        assert bob.required() in ("FULL_UPLOAD", "FULL_SYNC")
        bob.upload()
        for i in range(20):
            helpers.add_basic_notes(bob.col, 1, notetype="Basic")
            assert bob.required() in ("NO_CHANGES", "NORMAL_SYNC"), f"sync {i}"
        # alice's worker holds at most its bound of threads; the rest of her uploads were refused.
        threads = int(next(line.split()[1] for line in open(f"/proc/{srv.workers()['alice']}/status")
                           if line.startswith("Threads:")))
        assert threads <= 8 + 4, threads
    finally:
        for s in held:
            s.close()
    assert helpers.health_status(srv.port) == 200
