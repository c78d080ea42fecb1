"""Our process model: one lazily spawned `anki-sync-worker <user>` child per user
that synced, each touching only its own folder; the supervisor touches no user
data; a killed worker is respawned on the next request; idle keep-alive
connections do not keep workers alive."""
from __future__ import annotations

import json
import os
import subprocess
import signal
import stat
import time
from pathlib import Path

import pytest

import helpers

from helpers import (RawConn, children, cmdline, meta, open_paths, proc_state, v11_request,
                     wait_until, worker_children)

pytestmark = pytest.mark.ours_only

USERS = ["alice:pw-a", "bob:pw-b", "carol:pw-c"]


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(USERS)


def under(path: str, folder: Path) -> bool:
    return path == str(folder) or path.startswith(str(folder) + "/")


def test_start_creates_only_empty_user_folders(make_server):
    s = make_server(USERS + ["dave:pw-d"])
    entries = sorted(p.name for p in s.base.iterdir())
    # The user folders, plus the supervisor's control socket (a dot name no user can have).
    assert entries == [".anki-sync-server.sock", "alice", "bob", "carol", "dave"], entries
    sock = s.base / ".anki-sync-server.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
    for name in entries[1:]:
        p = s.base / name
        st = p.stat()
        assert stat.S_ISDIR(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o700, oct(st.st_mode)
        assert list(p.iterdir()) == [], f"{p} not empty: {list(p.iterdir())}"
    assert s.workers() == {}, "workers spawned before any request"


def test_login_alone_spawns_no_worker(srv, clients):
    clients("l").login(srv, "carol")
    assert "carol" not in srv.workers()


def test_two_users_two_workers(srv, clients):
    a, b = clients("a"), clients("b")
    a.login(srv, "alice")
    b.login(srv, "bob")
    assert a.required() == "NO_CHANGES"
    assert b.required() == "NO_CHANGES"
    workers = srv.workers()
    assert sorted(workers) == ["alice", "bob"], workers
    # exactly two children, both workers (nothing else forked)
    live = [c for c in children(srv.pid) if proc_state(c) not in ("Z", "X")]
    assert sorted(live) == sorted(workers.values()), (live, workers)
    sup_exe = Path(os.readlink(f"/proc/{srv.pid}/exe")).resolve()
    for user, pid in workers.items():
        argv = cmdline(pid)
        assert argv[1:] == [user], argv
        exe = Path(os.readlink(f"/proc/{pid}/exe")).resolve()
        assert exe.name == "anki-sync-worker" and exe.parent == sup_exe.parent, (exe, sup_exe)
    # lazily created collections, only for users who synced
    assert (srv.base / "alice" / "collection.anki2").is_file()
    assert (srv.base / "bob" / "collection.anki2").is_file()
    assert not (srv.base / "carol" / "collection.anki2").exists()


def test_workers_touch_only_their_own_folder(srv, clients):
    for u in ("alice", "bob"):
        assert meta(srv.port, srv.hkey(u)).status == 200
    workers = srv.workers()
    assert sorted(workers) == ["alice", "bob"], workers
    base = srv.base.resolve()
    for user, pid in workers.items():
        own = base / user
        paths = open_paths(pid)
        foreign = [p for p in paths if under(p, base) and not under(p, own)]
        assert not foreign, f"{user}'s worker has foreign user data open: {foreign}"
    sup = open_paths(srv.pid)
    inside = [p for p in sup if any(under(p, base / u.split(':')[0]) for u in USERS)]
    assert not inside, f"supervisor has user data open: {inside}"


def test_secrets_not_in_worker_argv_or_environment(srv):
    assert meta(srv.port, srv.hkey("alice")).status == 200
    pid = srv.workers()["alice"]
    with open(f"/proc/{pid}/environ", "rb") as f:
        environ = f.read().decode(errors="replace")
    argv = " ".join(cmdline(pid))
    for secret in ("pw-a", "pw-b", srv.hkey("alice"), srv.hkey("bob")):
        assert secret not in environ, f"{secret!r} in worker environment"
        assert secret not in argv, f"{secret!r} in worker argv"


def test_kill9_worker_respawns_on_next_request(srv, clients):
    a, b = clients("a"), clients("b")
    a.login(srv, "alice")
    b.login(srv, "bob")
    assert a.required() == "NO_CHANGES" and b.required() == "NO_CHANGES"
    before = srv.workers()
    alice_pid, bob_pid = before["alice"], before["bob"]
    os.kill(alice_pid, signal.SIGKILL)
    # the supervisor notices and reaps it (no zombie left behind)
    wait_until(lambda: proc_state(alice_pid) is None, 5, msg=f"worker {alice_pid} reaped")
    assert "alice" not in srv.workers()
    # bob is unaffected
    assert b.required() == "NO_CHANGES"
    assert srv.workers()["bob"] == bob_pid
    # alice's next request respawns her worker
    assert a.required() == "NO_CHANGES"
    after = srv.workers()
    assert "alice" in after and after["alice"] != alice_pid, (before, after)
    assert after["bob"] == bob_pid, (before, after)


def served(srv, user: str) -> int:
    out = subprocess.run([str(helpers.ours_bin()), "status", "--json"], env=srv.env(), capture_output=True,
                         text=True, timeout=30)
    users = {u["user"]: u for u in json.loads(out.stdout)["users"]} if out.returncode == 0 else {}
    return users.get(user, {}).get("requests_served", 0)


def test_kill9_worker_between_requests_on_keepalive_connection(srv):
    """A connection that was served by a worker that then died keeps working."""
    p = srv.port
    before = served(srv, "alice")
    with RawConn(p) as c:
        r = c.request(v11_request("meta", {"v": 11, "cv": "raw"}, srv.hkey("alice"), port=p))
        assert r.status == 200
        old = srv.workers()["alice"]
        # The client sees the response before the worker hands the connection back (it keeps it
        # for SYNC_WORKER_HOLD_MS, for the same account's next request); a kill before that loses
        # the connection like any crash mid-request. Kill after it: the worker reports its stats
        # right before handing the connection back.
        wait_until(lambda: served(srv, "alice") >= before + 1, 5, msg="connection handed back")
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: proc_state(old) is None, 5, msg="worker reaped")
        try:
            r = c.request(v11_request("meta", {"v": 11, "cv": "raw"}, srv.hkey("alice"), port=p))
        except (ConnectionError, OSError) as e:
            pytest.fail(f"keep-alive connection lost with the worker: {e!r} "
                        "(connections must return to the supervisor between requests)")
        assert r.status == 200, r
    assert srv.workers()["alice"] != old


def test_worker_crash_does_not_leave_zombies(srv):
    assert meta(srv.port, srv.hkey("bob")).status == 200
    pid = srv.workers()["bob"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: proc_state(pid) is None, 5, msg="worker reaped")
    zombies = [c for c in children(srv.pid) if proc_state(c) == "Z"]
    assert not zombies, zombies
    assert meta(srv.port, srv.hkey("bob")).status == 200


def test_idle_keepalive_connection_does_not_keep_worker(make_server):
    s = make_server(USERS, env={"SYNC_WORKER_IDLE_SECS": "1"})
    p = s.port
    with RawConn(p, timeout=30) as c:
        r = c.request(v11_request("meta", {"v": 11, "cv": "raw"}, s.hkey("alice"), port=p))
        assert r.status == 200
        pid = wait_until(lambda: s.workers().get("alice"), 5, msg="alice's worker")
        # the connection stays open and idle; the worker must still go away
        wait_until(lambda: "alice" not in s.workers(), 20, interval=0.2,
                   msg="idle worker exit while a keep-alive connection is open")
        r = c.request(v11_request("meta", {"v": 11, "cv": "raw"}, s.hkey("alice"), port=p))
        assert r.status == 200, r
        assert s.workers().get("alice") not in (None, pid)


def test_sigterm_stops_supervisor_and_workers(make_server):
    s = make_server(USERS)
    for u in ("alice", "bob"):
        assert meta(s.port, s.hkey(u)).status == 200
    workers = s.workers()
    assert len(workers) == 2
    os.kill(s.pid, signal.SIGTERM)          # the supervisor only, not the group
    s.proc.wait(15)
    wait_until(lambda: all(proc_state(w) in (None, "Z") for w in workers.values()), 10,
               msg="workers exit after the supervisor stops")
