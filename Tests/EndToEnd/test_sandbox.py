"""The worker sandbox and process hygiene (issue 16, issue 15 item 6): what a worker can reach
once it runs (its own folder and nothing else), how the server reports it, and how workers are
started and stopped. Our server only.

The probes run the worker's real sandbox set-up (`anki-sync-worker --sandbox-selftest FOLDER
PROBE ARG`, the same `Sandbox.enter` the worker calls) and try one thing each; a probe the seccomp
filter stops kills the process with SIGSYS."""
from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
from pathlib import Path

import pytest

import helpers
from helpers import CORRUPT_TEXT, meta, v11, wait_until

pytestmark = pytest.mark.ours_only

WORKER = os.environ.get("ANKI_SYNC_WORKER_BIN", str(helpers.ours_bin().parent / "anki-sync-worker"))
SYS_LANDLOCK_CREATE_RULESET = 444  # the same number on every architecture


def kernel_landlock_abi() -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    return max(0, abi)


needs_landlock = pytest.mark.skipif(kernel_landlock_abi() < 1, reason="kernel without Landlock")


def probe(folder: Path, name: str, arg: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ANKI_SYNC_WORKER_CHANNEL"}
    return subprocess.run([WORKER, "--sandbox-selftest", str(folder), name, arg], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL, env=env)


def outcome(r: subprocess.CompletedProcess) -> str:
    """allowed / denied / killed (by seccomp), after checking that every layer was in place."""
    lines = r.stdout.splitlines()
    assert lines and lines[0] == f"isolation landlock={kernel_landlock_abi()} seccomp=1 nnp=1", (r.stdout, r.stderr)
    if r.returncode == -signal.SIGSYS:
        return "killed"
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return lines[-1].split(":")[0].split(" ")[0]


@needs_landlock
def test_selftest_reaches_its_folder_and_nothing_else(tmp_path):
    a, b = tmp_path / "base" / "alice", tmp_path / "base" / "bob"
    a.mkdir(parents=True)
    b.mkdir()
    (b / "collection.anki2").write_bytes(b"bob's data")
    env_file = tmp_path / "env"
    env_file.write_text("SYNC_USER1=alice:secret\n")
    control = tmp_path / "base" / ".anki-sync-server.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(control))
    listener.listen(1)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind((helpers.HOST, 0))
    tcp.listen(1)
    try:
        # inside the folder: files and a WAL-mode SQLite database work
        assert outcome(probe(a, "write", str(a / "note.txt"))) == "allowed"
        assert outcome(probe(a, "read", str(a / "note.txt"))) == "allowed"
        r = probe(a, "sqlite", str(a / "t.db"))
        assert outcome(r) == "allowed" and r.stdout.splitlines()[-1] == "allowed journal=wal rows=1", r.stdout
        # everything else on the file system is refused by Landlock
        for path in (b / "collection.anki2", Path("/etc/passwd"), env_file, control, Path(f"/proc/{os.getpid()}/environ")):
            r = probe(a, "read", str(path))
            assert outcome(r) == "denied" and "errno 13" in r.stdout, (path, r.stdout)
        r = probe(a, "write", str(b / "planted"))
        assert outcome(r) == "denied" and not (b / "planted").exists(), r.stdout
        # no programs, no new sockets (TCP or the control socket), no signals to other processes
        assert outcome(probe(a, "exec", "/bin/true")) == "killed"
        assert outcome(probe(a, "tcp", str(tcp.getsockname()[1]))) == "killed"
        assert outcome(probe(a, "unix", str(control))) == "killed"
        r = probe(a, "signal", str(os.getpid()))
        assert outcome(r) == "denied" and "errno 1)" in r.stdout, r.stdout
        # nothing reached the listeners
        for s in (listener, tcp):
            s.settimeout(0)
            with pytest.raises(BlockingIOError):
                s.accept()
    finally:
        listener.close()
        tcp.close()


def worker_fds(pid: int) -> dict[int, str]:
    out = {}
    for n in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            out[int(n)] = os.readlink(f"/proc/{pid}/fd/{n}")
    return out


def proc_status(pid: int) -> dict[str, str]:
    rows = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {k: v.strip() for k, _, v in (r.partition(":") for r in rows)}


def limits_of(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]:
        name = line[:26].strip()
        out[name] = line[26:47].strip()
    return out


class PatchedPopen:
    """Starts a server with extra Popen arguments (inherited descriptors, a preexec function)."""

    def __init__(self, **extra):
        self.extra = extra
        self.original = subprocess.Popen

    def __enter__(self):
        original, extra = self.original, self.extra
        helpers.subprocess.Popen = lambda *a, **kw: original(*a, **{**kw, **extra})
        return self

    def __exit__(self, *exc):
        helpers.subprocess.Popen = self.original


@needs_landlock
def test_running_worker_is_sandboxed_and_status_says_so(make_server, tmp_path):
    leak = open(tmp_path / "inherited-by-the-supervisor", "w")  # noqa: SIM115 - kept open on purpose
    os.set_inheritable(leak.fileno(), True)
    srv = make_server(["alice:pa"], start=False)
    try:
        with PatchedPopen(pass_fds=(leak.fileno(),)):
            srv.start()
    finally:
        leak.close()
    assert meta(srv.port, srv.hkey("alice")).status == 200
    pid = srv.workers()["alice"]
    st = proc_status(pid)
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2", st
    own = str((srv.base / "alice").resolve())

    def strays() -> dict[int, str]:
        # the client connection may still be on its way back to the supervisor: wait for that
        fds = worker_fds(pid)
        assert fds[3].startswith("socket:"), fds
        return {n: t for n, t in fds.items() if n > 3 and not t.startswith(own + "/")}

    wait_until(lambda: not strays(), msg="worker holds only its channel and its own files")
    # its own process group (Ctrl-C in a terminal reaches only the supervisor); argv is for ps
    assert os.getpgid(pid) == pid != os.getpgid(srv.pid)
    assert helpers.cmdline(pid)[1:] == ["alice"]
    limits = limits_of(pid)
    # SYNC_WORKER_MAX_REQUESTS (8) serving, 4 waiting per slot, and 64 spare descriptors.
    assert limits["Max open files"] == str(8 * 5 + 64), limits
    assert limits["Max file size"] == str(4 * 300 * 1024 * 1024), limits
    assert limits["Max core file size"] == "0", limits
    r = subprocess.run([str(helpers.ours_bin()), "status", "--json"], env=srv.env(), capture_output=True, text=True, timeout=30)
    users = {u["user"]: u for u in json.loads(r.stdout)["users"]}
    assert users["alice"]["isolation"] == {"landlock_abi": kernel_landlock_abi(), "seccomp": True, "no_new_privs": True}
    text = subprocess.run([str(helpers.ours_bin()), "status"], env=srv.env(), capture_output=True, text=True, timeout=30).stdout
    assert f"landlock {kernel_landlock_abi()}, seccomp, nnp" in text, text


def test_worker_killed_by_sigsys_is_named_in_the_log(make_server):
    srv = make_server(["alice:pa"])
    assert meta(srv.port, srv.hkey("alice")).status == 200
    pid = srv.workers()["alice"]
    os.kill(pid, signal.SIGSYS)  # what a seccomp violation delivers
    wait_until(lambda: "worker killed by the sandbox (SIGSYS)" in srv.log_tail(), msg="SIGSYS log line")
    assert meta(srv.port, srv.hkey("alice")).status == 200  # and the next request gets a fresh worker


def test_symlinked_media_never_serves_another_users_file(make_server, clients):
    srv = make_server(["alice:pa", "bob:pb"])
    b = clients("b")
    b.login(srv, "bob")
    b.required()  # creates bob's collection
    secret = (srv.base / "bob" / "collection.anki2").read_bytes()[:16]
    import test_media as tm
    assert tm.data_of(tm.upload(srv, "alice", [["pic.jpg", "0"]], {"0": b"alice's picture"})) == [1, 1]
    planted = srv.base / "alice" / "media" / "pic.jpg"
    planted.unlink()
    planted.symlink_to(srv.base / "bob" / "collection.anki2")
    r = tm.mcall(srv, "alice", "downloadFiles", {"files": ["pic.jpg"]})
    assert r.status == 409, r
    assert secret not in r.body
    assert "media file refused" in srv.log_tail()
    # refused like a vanished file: the record is dropped, so clients stop asking for it
    assert tm.all_changes(srv, "alice") == []


@pytest.mark.parametrize("extra_sql", [
    "CREATE TRIGGER sneaky AFTER INSERT ON notes BEGIN DELETE FROM cards; END",
    "CREATE VIEW v AS SELECT id FROM notes",
    "CREATE VIRTUAL TABLE vt USING fts5(x)",
])
def test_upload_with_schema_code_is_refused(make_server, clients, tmp_path, extra_sql):
    srv = make_server(["alice:pa"])
    a = clients("a")
    a.login(srv, "alice")
    helpers.add_basic_notes(a.col, 3)
    a.upload()
    stock = a.col.db.all("SELECT type, name FROM sqlite_master WHERE type NOT IN ('table', 'index')")
    assert stock == [], f"the real client's collection carries schema code: {stock}"
    a.close()
    bad = tmp_path / "bad.anki2"
    bad.write_bytes(a.path.read_bytes())
    con = sqlite3.connect(bad)
    con.execute("PRAGMA journal_mode = DELETE")
    con.execute(extra_sql)
    con.commit()
    con.close()
    k = srv.hkey("alice")
    before = meta(srv.port, k).json()
    stored = hashlib.sha256((srv.base / "alice" / "collection.anki2").read_bytes()).hexdigest()
    r = v11(srv.port, "upload", bad.read_bytes(), k, "sk")
    assert r.status == 200 and r.text == CORRUPT_TEXT, r.text
    assert meta(srv.port, k).json() == before
    assert hashlib.sha256((srv.base / "alice" / "collection.anki2").read_bytes()).hexdigest() == stored


def test_ctrl_c_stops_workers_through_the_supervisor(make_server, clients):
    srv = make_server(["alice:pa", "bob:pb"])
    for name in ("alice", "bob"):
        c = clients(name)
        c.login(srv, name)
        helpers.add_basic_notes(c.col, 2)
        assert c.required() == "FULL_UPLOAD"
        c.upload()
        assert c.required() == "NO_CHANGES"
    workers = srv.workers()
    assert sorted(workers) == ["alice", "bob"]
    assert list(srv.base.glob("*/*-wal")), "expected open WAL files while the workers run"
    os.killpg(srv.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    assert srv.proc.wait(40) == 0, srv.log_tail()
    for pid in workers.values():
        wait_until(lambda p=pid: helpers.proc_state(p) in (None, "Z", "X"), msg=f"worker {pid} gone")
    log = srv.log_tail(300)
    for name in ("alice", "bob"):
        # told by the supervisor, not interrupted by the terminal's signal
        assert f"worker:{name} worker stopping" in log, log
    assert "worker crashed" not in log, log
    assert not list(srv.base.glob("*/*-wal")), list(srv.base.glob("*/*"))


@pytest.mark.parametrize("name", ["-x", "--create-collection"])
def test_option_like_user_names_sync_normally(make_server, clients, name):
    srv = make_server([f"{name}:pw", "carol:pc"])
    c = clients("c")
    c.login(srv, name)
    helpers.add_basic_notes(c.col, 2)
    assert c.required() == "FULL_UPLOAD"
    c.upload()
    assert c.required() == "NO_CHANGES"
    pid = srv.workers()[name]
    assert helpers.cmdline(pid)[1:] == [name]
    assert (srv.base / name / "collection.anki2").is_file()


def _no_landlock_preexec():
    """A container-like seccomp profile for the server: landlock_create_ruleset fails with ENOSYS."""

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    program = (SockFilter * 4)(
        SockFilter(0x20, 0, 0, 0),                        # load the syscall number
        SockFilter(0x15, 0, 1, SYS_LANDLOCK_CREATE_RULESET),
        SockFilter(0x06, 0, 0, 0x00050000 | 38),          # SECCOMP_RET_ERRNO | ENOSYS
        SockFilter(0x06, 0, 0, 0x7FFF0000),               # SECCOMP_RET_ALLOW
    )
    prog = SockFprog(4, program)
    libc = ctypes.CDLL(None, use_errno=True)

    def install():
        if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # NO_NEW_PRIVS, SECCOMP
            os._exit(121)

    return install


needs_x86_64 = pytest.mark.skipif(platform.machine() != "x86_64", reason="the test's seccomp profile is x86-64 only")


@needs_x86_64
def test_without_landlock_server_runs_and_says_so(make_server, clients):
    srv = make_server(["alice:pa"], start=False)
    with PatchedPopen(preexec_fn=_no_landlock_preexec()):
        srv.start()
    c = clients("c")
    c.login(srv, "alice")
    assert c.required() in ("NO_CHANGES", "FULL_UPLOAD")
    r = subprocess.run([str(helpers.ours_bin()), "status", "--json"], env=srv.env(), capture_output=True, text=True, timeout=30)
    users = {u["user"]: u for u in json.loads(r.stdout)["users"]}
    assert users["alice"]["isolation"] == {"landlock_abi": 0, "seccomp": True, "no_new_privs": True}
    assert srv.log_tail(200).count("worker sandbox incomplete") == 1


@needs_x86_64
def test_require_sandbox_refuses_to_start_without_landlock(tmp_path):
    env = helpers.base_env({"SYNC_USER1": "alice:pa", "SYNC_BASE": str(tmp_path / "base"), "SYNC_HOST": helpers.HOST,
                            "SYNC_PORT": str(helpers.free_port()), "SYNC_REQUIRE_SANDBOX": "1"})
    r = subprocess.run([str(helpers.ours_bin())], env=env, capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL, preexec_fn=_no_landlock_preexec())
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert r.stderr.count("\n") == 1 and "SYNC_REQUIRE_SANDBOX" in r.stderr and "Landlock" in r.stderr, r.stderr
    # with the kernel's Landlock in reach the same setting starts normally
    if kernel_landlock_abi() > 0:
        r = helpers.run_server_expect_exit({"SYNC_USER1": "alice:pa", "SYNC_REQUIRE_SANDBOX": "1"}, tmp_path / "b2", timeout=3)
        assert r.returncode is None, r.stderr  # still running when the timeout stopped it


def test_systemd_unit_lets_the_sandbox_in():
    unit = (Path(__file__).resolve().parents[2] / "deploy" / "anki-sync-server.service").read_text().splitlines()
    filters = [line.split("=", 1)[1].split() for line in unit if line.startswith("SystemCallFilter=")]
    allowed = {name for f in filters if not f[0].startswith("~") for name in f}
    denied = {name.lstrip("~") for f in filters if f[0].startswith("~") for name in f}
    for call in ("landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self", "seccomp"):
        assert call in allowed and call not in denied, (call, filters)
    assert "NoNewPrivileges=yes" in unit
