"""Per-user bounds in the worker (issue 15 item 2, ours only): a flood of stalled uploads for
one user leaves that user's worker with a bounded number of threads and descriptors while
other users sync, and a device reading a full download slowly never blocks its siblings."""
from __future__ import annotations

import secrets
import socket
import threading
import time

import pytest

from helpers import (HOST, RawConn, add_basic_notes, http_request, meta, required_name, sync_header,
                     wait_until, zstd_compress)

pytestmark = pytest.mark.ours_only

USERS = ["alice:pw", "bob:pw2"]
MAX_REQUESTS = 4          # SYNC_WORKER_MAX_REQUESTS (default 8): the setting reaches the worker
WAITING = 4 * MAX_REQUESTS
STALLED = 100


def proc_status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def fd_count(pid: int) -> int:
    import os
    return len(os.listdir(f"/proc/{pid}/fd"))


def stalled_upload(port: int, hkey: str) -> socket.socket:
    """An upload that announces 10 MB, sends a little, then stalls."""
    s = socket.create_connection((HOST, port))
    head = http_request("POST", "/sync/upload", None, {
        "anki-sync": sync_header(hkey), "content-type": "application/octet-stream",
        "content-length": str(10 * 1024 * 1024)}, port=port)
    s.sendall(head + zstd_compress(b"x" * 100)[:20])
    return s


def test_stalled_uploads_are_bounded_and_others_sync(make_server, clients):
    srv = make_server(USERS, env={"SYNC_WORKER_MAX_REQUESTS": str(MAX_REQUESTS)})
    assert meta(srv.port, srv.hkey("alice")).status == 200
    pid = srv.workers()["alice"]
    sockets = [stalled_upload(srv.port, srv.hkey("alice")) for _ in range(STALLED)]
    try:
        # Every handover is settled: the ones beyond the bound were refused with 503.
        refused = STALLED - MAX_REQUESTS - WAITING
        wait_until(lambda: srv.log_tail(10_000).count("request refused: too many at once") >= refused,
                   timeout=60, msg=f"{refused} refusals in the log")
        threads, fds = proc_status(pid, "Threads"), fd_count(pid)
        print(f"alice's worker with {STALLED} stalled uploads: {threads} threads, {fds} descriptors")
        assert threads <= MAX_REQUESTS + 2, f"{threads} threads in alice's worker"
        assert fds <= MAX_REQUESTS + WAITING + 16, f"{fds} descriptors in alice's worker"
        # bob syncs with the real client meanwhile: upload from one device, download on another
        a = clients("bob-a")
        add_basic_notes(a.col, 20, notetype="Basic")
        a.login(srv, "bob")
        assert required_name(a.sync().required) in ("FULL_SYNC", "FULL_UPLOAD")
        a.upload()
        b = clients("bob-b")
        b.login(srv, "bob")
        b.download()
        assert b.count("notes") == 20
        assert proc_status(pid, "Threads") <= MAX_REQUESTS + 2
        # a refused connection got a clear answer
        statuses = set()
        for s in sockets:
            s.settimeout(0)
            try:
                data = s.recv(200)
            except (BlockingIOError, ConnectionResetError):
                continue
            if data.startswith(b"HTTP/1.1 "):
                statuses.add(int(data.split()[1]))
        assert 503 in statuses, statuses
    finally:
        for s in sockets:
            s.close()
    # once the stalled clients are gone, alice is served again
    wait_until(lambda: meta(srv.port, srv.hkey("alice")).status == 200, timeout=30, msg="alice served again")
    assert srv.workers()["alice"] == pid, "the worker survived"


class SlowReader(threading.Thread):
    """Reads a full download at about 1 KB/s through a small receive buffer."""

    def __init__(self, port: int, hkey: str):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect((HOST, port))
        body = zstd_compress(b"{}")
        self.sock.sendall(http_request("POST", "/sync/download", body, {
            "anki-sync": sync_header(hkey), "content-type": "application/octet-stream"}, port=port))
        self.received = b""
        self.finished = False
        self.stop = threading.Event()

    def run(self):
        self.sock.settimeout(5)
        while not self.stop.is_set():
            try:
                data = self.sock.recv(1024)
            except socket.timeout:
                continue
            except OSError:
                break
            if not data:
                self.finished = True
                break
            self.received += data
            if self.received.endswith(b"\r\n0\r\n\r\n"):
                self.finished = True
                break
            self.stop.wait(1.0)   # the slow device: about 1 KB per second

    def close(self):
        self.stop.set()
        self.sock.close()
        self.join(10)


def test_slow_download_does_not_block_other_devices(make_server, clients):
    srv = make_server(USERS)
    # ~8 MB of incompressible text: the compressed download cannot fit in socket buffers.
    a = clients("alice-a")
    add_basic_notes(a.col, 1, notetype="Basic")
    nt = a.col.models.by_name("Basic")
    from anki.collection import AddNoteRequest
    reqs = []
    for i in range(2000):
        note = a.col.new_note(nt)
        note["Front"] = f"{i} " + secrets.token_urlsafe(3000)
        reqs.append(AddNoteRequest(note=note, deck_id=a.col.decks.id("Default")))
    a.col.add_notes(reqs)
    a.login(srv, "alice")
    a.upload()
    b = clients("alice-b")
    b.login(srv, "alice")
    b.download()
    notes = b.count("notes")
    assert notes == 2001

    reader = SlowReader(srv.port, srv.hkey("alice"))
    reader.start()
    try:
        wait_until(lambda: b"\r\n\r\n" in reader.received, timeout=30, msg="the download's head")
        assert reader.received.startswith(b"HTTP/1.1 200"), reader.received[:200]
        # alice's other device makes a change and syncs normally while the slow read goes on
        add_basic_notes(b.col, 1, notetype="Basic", prefix="while-downloading")
        outcome: dict = {}

        def sync():
            try:
                outcome["required"] = required_name(b.sync().required)
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                outcome["error"] = repr(e)

        t = threading.Thread(target=sync, daemon=True)
        started = time.monotonic()
        t.start()
        t.join(90)
        assert not t.is_alive(), "the normal sync was blocked by the slow download"
        assert outcome.get("required") in ("NORMAL_SYNC", "NO_CHANGES"), outcome
        assert not reader.finished, "the download ended before the check; it proves nothing"
        assert time.monotonic() - started < 90
    finally:
        reader.close()
    # the change reached the server: the first device pulls it
    assert required_name(a.sync().required) in ("NORMAL_SYNC", "NO_CHANGES")
    assert a.count("notes") == notes + 1
