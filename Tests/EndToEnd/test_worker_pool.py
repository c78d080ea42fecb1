"""The worker pool (issues 14 and 17): one record and one worker per user through reloads, and
`restart` that lets an open sync finish. Our server only: the official server has one process."""
from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import pytest

import helpers
from helpers import RawConn, v11_request

pytestmark = pytest.mark.ours_only


def ctl(srv: helpers.Server, *args: str, env_file: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [str(helpers.ours_bin())] + (["--env-file", str(env_file)] if env_file else []) + list(args)
    return subprocess.run(cmd, env=srv.env(), capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)


def write_env(path: Path, srv_env: dict, users: list[str]):
    lines = [f"SYNC_USER{i}={u}" for i, u in enumerate(users, 1)]
    lines += [f"{k}={srv_env[k]}" for k in ("SYNC_BASE", "SYNC_HOST", "SYNC_PORT")]
    path.write_text("\n".join(lines) + "\n")


def alice_workers(srv: helpers.Server) -> list[int]:
    """Every live worker process of alice (worker_children itself refuses two per user)."""
    return [pid for pid in helpers.live_children(srv.pid)
            if "anki-sync-worker" in " ".join(helpers.cmdline(pid)) and "alice" in helpers.cmdline(pid)]


def test_user_removed_and_added_back_during_an_upload_keeps_one_worker(make_server, clients, tmp_path):
    env_file = tmp_path / "server.env"
    srv = make_server(["alice:pa", "bob:pb"], start=False)
    srv.args = ["--env-file", str(env_file)]
    write_env(env_file, srv.env(), ["alice:pa", "bob:pb"])
    srv.start()

    # A collection to upload, made by the real client.
    maker = clients("maker")
    helpers.add_basic_notes(maker.col, 30, notetype="Basic")
    maker.close()
    request = v11_request("upload", maker.path.read_bytes(), srv.hkey("alice"), port=srv.port)
    head_end = request.index(b"\r\n\r\n") + 4
    first, rest = request[:head_end + len(request[head_end:]) // 2], request[head_end + len(request[head_end:]) // 2:]

    samples: list[int] = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            samples.append(len(alice_workers(srv)))
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        with RawConn(srv.port, timeout=60) as c:
            c.send(first)                                  # alice's upload is under way ...
            helpers.wait_until(lambda: len(alice_workers(srv)) == 1, msg="alice's worker took the upload")
            old = alice_workers(srv)[0]
            write_env(env_file, srv.env(), ["bob:pb"])     # ... she is removed ...
            r = ctl(srv, "reload", env_file=env_file)
            assert r.returncode == 0 and "removed [alice]" in r.stdout, r
            write_env(env_file, srv.env(), ["alice:pa", "bob:pb"])   # ... and added back
            r = ctl(srv, "reload", env_file=env_file)
            assert r.returncode == 0 and "added [alice]" in r.stdout, r
            assert alice_workers(srv) == [old], "no second worker while the first one still runs"
            c.send(rest)
            reply = c.read_response()
        assert reply.status == 200, reply
        assert helpers.zstd_decompress(reply.raw_body) == b"OK"
    finally:
        stop.set()
        watcher.join(5)
    assert max(samples) == 1, "two workers of alice at once"
    # Her upload is stored whole and a fresh device gets it.
    dev = clients("alice-dev")
    dev.login(srv, "alice")
    assert dev.required() in ("FULL_DOWNLOAD", "FULL_SYNC")
    dev.download()
    assert dev.count("notes") == 30
    assert dev.check_database()[1]


def test_restart_waits_for_the_open_sync(make_server, clients):
    """`restart alice` during her 20-round normal-sync loop: no sync of hers fails."""
    srv = make_server(["alice:pa", "bob:pb"])
    alice = clients("alice")
    alice.login(srv, "alice")
    helpers.add_basic_notes(alice.col, 20, notetype="Basic")
    assert alice.required() in ("FULL_UPLOAD", "FULL_SYNC")
    alice.upload()

    failures: list[str] = []
    done = threading.Event()

    def sync_loop():
        try:
            for i in range(20):
                helpers.add_basic_notes(alice.col, 20, notetype="Basic")
                try:
                    out = alice.required()
                    if out not in ("NO_CHANGES", "NORMAL_SYNC"):
                        failures.append(f"round {i}: {out}")
                except Exception as e:  # noqa: BLE001 - every failed round is reported
                    failures.append(f"round {i}: {e!r}")
        finally:
            done.set()

    t = threading.Thread(target=sync_loop)
    t.start()
    restarts = 0
    pids = set()
    while not done.is_set() and restarts < 8:
        r = ctl(srv, "restart", "alice")
        assert r.returncode == 0, r.stderr
        restarts += 1
        pid = srv.workers().get("alice")
        if pid:
            pids.add(pid)
    t.join(300)
    assert not t.is_alive()
    assert failures == [], failures
    assert restarts >= 2
    assert len(pids) >= 2, "the worker was really replaced"
    assert "restart waits for the open sync session" in srv.log_tail(5000)
    # Everything arrived: a second device downloads all 420 notes.
    dev = clients("alice-dev")
    dev.login(srv, "alice")
    assert dev.required() in ("FULL_DOWNLOAD", "FULL_SYNC")
    dev.download()
    assert dev.count("notes") == 420


def test_restart_now_does_not_wait(make_server):
    srv = make_server(["alice:pa"])
    key = srv.hkey("alice")
    r = helpers.v11(srv.port, "meta", {"v": 11, "cv": "anki,26.09.3 (e2e),linux"}, key, "s1")
    assert r.status == 200
    # Open a sync session and leave it open.
    r = helpers.v11(srv.port, "start", {"minUsn": 0, "lnewer": True, "graves": None}, key, "s1")
    assert r.status == 200, r
    st = json.loads(ctl(srv, "status", "--json").stdout)
    assert {u["user"]: u for u in st["users"]}["alice"]["active_sync_session"] is True
    old = srv.workers()["alice"]
    t0 = time.monotonic()
    r = ctl(srv, "restart", "--now", "alice")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 30
    helpers.wait_until(lambda: srv.workers().get("alice") not in (None, old), msg="a fresh worker")
