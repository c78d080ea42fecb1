"""Running the family server (issue 7): status, restart one user's worker, reload users,
idle exit, crash backoff, graceful stop, log format. Our server only: the official server
has none of this."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

import helpers

pytestmark = pytest.mark.ours_only


def ctl(srv: helpers.Server, *args: str, env_file: Path | None = None) -> subprocess.CompletedProcess:
    """Runs a subcommand of the same binary, finding the server through the same environment."""
    cmd = [str(helpers.ours_bin())] + (["--env-file", str(env_file)] if env_file else []) + list(args)
    return subprocess.run(cmd, env=srv.env(), capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)


def status_json(srv: helpers.Server, env_file: Path | None = None) -> dict:
    r = ctl(srv, "status", "--json", env_file=env_file)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def by_user(status: dict) -> dict:
    return {u["user"]: u for u in status["users"]}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_status_lists_exactly_the_running_workers(make_server):
    srv = make_server(["alice:pa", "bob:pb", "carol:pc"])
    assert helpers.meta(srv.port, srv.hkey("alice")).status == 200
    assert helpers.meta(srv.port, srv.hkey("bob")).status == 200
    workers = srv.workers()
    st = status_json(srv)
    assert st["pid"] == srv.pid
    users = by_user(st)
    assert set(users) == {"alice", "bob", "carol"}
    for name in ("alice", "bob"):
        assert users[name]["state"] == "running"
        assert users[name]["worker_pid"] == workers[name]
        assert users[name]["requests_served"] >= 1
        assert users[name]["active_sync_session"] is False
        assert users[name]["last_request_millis"] > 0
    assert users["carol"]["state"] == "stopped"
    assert users["carol"].get("worker_pid") is None
    text = ctl(srv, "status")
    assert text.returncode == 0
    assert str(workers["alice"]) in text.stdout and str(workers["bob"]) in text.stdout
    assert "carol" in text.stdout and "stopped" in text.stdout


def test_restart_one_worker_while_another_user_uploads(make_server, clients):
    srv = make_server(["alice:pa", "bob:pb"])
    alice = clients("alice")
    alice.login(srv, "alice")
    assert alice.required() in ("NO_CHANGES", "FULL_SYNC", "FULL_UPLOAD", "NORMAL_SYNC")
    bob = clients("bob")
    bob.login(srv, "bob")
    # A collection that takes a moment to upload: random (incompressible) field text.
    helpers.add_basic_notes(bob.col, 300, notetype="Basic")
    blob = os.urandom(40_000).hex()
    bob.col.db.execute("update notes set flds = flds || ?", blob)
    assert bob.required() in ("FULL_UPLOAD", "FULL_SYNC")
    bob_pid = srv.workers()["bob"]
    alice_pid = srv.workers()["alice"]
    errors = []

    def upload():
        try:
            bob.upload()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    t = threading.Thread(target=upload)
    t.start()
    r = ctl(srv, "restart", "alice")
    t.join(120)
    assert r.returncode == 0, r.stderr
    assert "alice" in r.stdout
    assert not errors, errors
    assert srv.workers()["bob"] == bob_pid
    helpers.wait_until(lambda: srv.workers().get("alice") not in (None, alice_pid), msg="alice's new worker")
    assert alice.required() in ("NO_CHANGES", "FULL_SYNC", "FULL_UPLOAD", "NORMAL_SYNC")
    fresh = clients("bob2")
    fresh.login(srv, "bob")
    fresh.download()
    assert fresh.count("notes") == 300
    assert fresh.col.db.scalar("pragma integrity_check") == "ok"


def test_restart_of_unknown_user_fails(make_server):
    srv = make_server(["alice:pa"])
    r = ctl(srv, "restart", "mallory")
    assert r.returncode == 1
    assert "mallory" in r.stderr


def test_idle_worker_exits_and_next_sync_respawns(make_server, clients):
    srv = make_server(["alice:pa"], env={"SYNC_WORKER_IDLE_SECS": "1"})
    c = clients("a")
    c.login(srv, "alice")
    c.sync()
    first = srv.workers()["alice"]
    helpers.wait_until(lambda: "alice" not in srv.workers(), timeout=10, msg="idle exit")
    assert by_user(status_json(srv))["alice"]["state"] == "stopped"
    assert "worker idle exit" in srv.log_tail(200)
    c.sync()
    assert srv.workers()["alice"] != first


def test_crash_backoff_then_recovery(make_server):
    srv = make_server(["alice:pa", "bob:pb"])
    folder = srv.base / "alice"
    shutil.rmtree(folder)
    folder.write_text("not a folder")          # the worker refuses to start on it
    statuses = [helpers.meta(srv.port, srv.hkey("alice")).status for _ in range(6)]
    assert statuses[0] == 500
    assert 503 in statuses, statuses
    st = by_user(status_json(srv))["alice"]
    assert st["state"] == "backoff" and st["consecutive_crashes"] >= 3 and st["backoff_seconds"] >= 1
    log = srv.log_tail(400)
    assert "worker crashed" in log and "worker backoff" in log and "worker cannot start" in log
    # Other users keep syncing, and requests during backoff are cheap: no busy loop.
    before = cpu_seconds(srv.pid)
    t0 = time.monotonic()
    for _ in range(20):
        assert helpers.meta(srv.port, srv.hkey("bob")).status == 200
        assert helpers.meta(srv.port, srv.hkey("alice")).status in (500, 503)
        time.sleep(0.05)
    spent = cpu_seconds(srv.pid) - before
    assert spent < 0.5 * (time.monotonic() - t0), f"supervisor used {spent:.2f} s of CPU"
    # Fix the cause: once the backoff has run out, alice is served again.
    folder.unlink()
    folder.mkdir(mode=0o700)
    helpers.wait_until(lambda: helpers.meta(srv.port, srv.hkey("alice")).status == 200, timeout=70,
                       interval=0.5, msg="recovery after backoff")
    assert by_user(status_json(srv))["alice"]["state"] == "running"


def write_env(path: Path, srv_env: dict, users: list[str]):
    lines = [f"SYNC_USER{i}={u}" for i, u in enumerate(users, 1)]
    lines += [f"{k}={srv_env[k]}" for k in ("SYNC_BASE", "SYNC_HOST", "SYNC_PORT")]
    path.write_text("# family server\n" + "\n".join(lines) + "\n")


def login_status(port: int, user: str, password: str) -> int:
    return helpers.v11(port, "hostKey", {"u": user, "p": password}).status


def test_reload_adds_removes_and_changes_users(make_server, tmp_path):
    env_file = tmp_path / "server.env"
    srv = make_server(["alice:pa", "bob:pb"], start=False)
    srv.args = ["--env-file", str(env_file)]
    write_env(env_file, srv.env(), ["alice:pa", "bob:pb"])
    srv.start()
    assert helpers.meta(srv.port, srv.hkey("bob")).status == 200
    assert "bob" in srv.workers()
    old_alice = srv.hkey("alice")
    write_env(env_file, srv.env(), ["alice:pa-new", "carol:pc"])
    r = ctl(srv, "reload", env_file=env_file)
    assert r.returncode == 0, r.stderr
    assert login_status(srv.port, "carol", "pc") == 200
    assert login_status(srv.port, "bob", "pb") == 403
    assert (srv.base / "bob").is_dir()                     # folders are kept
    helpers.wait_until(lambda: "bob" not in srv.workers(), msg="bob's worker retired")
    assert helpers.meta(srv.port, old_alice).status == 403  # old key stops working at once
    assert login_status(srv.port, "alice", "pa") == 403
    assert login_status(srv.port, "alice", "pa-new") == 200
    assert helpers.meta(srv.port, helpers.sha1hex("alice:pa-new")).status == 200
    # A malformed file is refused with the reason; the previous users keep working.
    env_file.write_text("SYNC_USER1=nocolon\n")
    r = ctl(srv, "reload", env_file=env_file)
    assert r.returncode == 1 and "SYNC_USER1" in r.stderr
    assert login_status(srv.port, "carol", "pc") == 200
    # SIGHUP does the same as `reload`.
    write_env(env_file, srv.env(), ["alice:pa-new", "carol:pc", "dave:pd"])
    os.kill(srv.pid, signal.SIGHUP)
    helpers.wait_until(lambda: login_status(srv.port, "dave", "pd") == 200, msg="SIGHUP reload")
    assert set(by_user(status_json(srv))) == {"alice", "carol", "dave"}


def test_reload_without_env_file_is_refused(make_server):
    srv = make_server(["alice:pa"])
    r = ctl(srv, "reload")
    assert r.returncode == 1 and "--env-file" in r.stderr


def test_sigterm_stops_workers_and_exits_zero(make_server, clients):
    srv = make_server(["alice:pa", "bob:pb"])
    c = clients("a")
    c.login(srv, "alice")
    helpers.add_basic_notes(c.col, 50, notetype="Basic")
    c.upload()
    assert helpers.meta(srv.port, srv.hkey("bob")).status == 200
    workers = srv.workers()
    assert len(workers) == 2
    proc = srv.proc
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(40) == 0
    for pid in workers.values():
        assert helpers.proc_state(pid) in (None, "Z")
    assert not (srv.base / ".anki-sync-server.sock").exists()
    log = srv.log_tail(100)
    assert "stopping" in log and "worker exited" in log
    srv.proc = None
    srv.start()                                          # data survives
    fresh = clients("a2")
    fresh.login(srv, "alice")
    fresh.download()
    assert fresh.count("notes") == 50


def test_second_server_on_same_base_is_refused(make_server):
    srv = make_server(["alice:pa"])
    r = helpers.run_server_expect_exit({"SYNC_USER1": "alice:pa"}, srv.base)
    assert r.returncode != 0
    assert "already running" in r.stderr


def test_json_logs(make_server):
    srv = make_server(["alice:pa"], env={"SYNC_LOG_FORMAT": "json"})
    assert helpers.meta(srv.port, srv.hkey("alice")).status == 200
    helpers.wait_until(lambda: '"event":"request"' in srv.log_tail(50), msg="request log line")
    events = set()
    for line in srv.log_tail(200).splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        assert {"ts", "level", "proc", "event"} <= set(record)
        events.add(record["event"])
    assert {"listening", "worker spawned", "worker started", "request"} <= events
