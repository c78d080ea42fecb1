"""Users by command (issue 17): `anki-sync-server --env-file F user add|passwd|remove|list` and
`hash-password` edit the env file (passwords from stdin, stored as PHC hashes), reload the running
server, and leave a file the official server reads the same way. Our server's commands; the
official server is started from the same file."""
from __future__ import annotations

import contextlib
import os
import socket
import stat
import subprocess
from pathlib import Path

import pytest

import helpers

pytestmark = pytest.mark.ours_only


def admin(env_file: Path | None, *args, password: str | None = None, env: dict | None = None):
    cmd = [str(helpers.ours_bin())] + (["--env-file", str(env_file)] if env_file else []) + list(args)
    if password is None:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                              env=env or helpers.base_env())
    return subprocess.run(cmd, input=password + "\n", capture_output=True, text=True, timeout=60,
                          env=env or helpers.base_env())


def read_env(path: Path) -> dict:
    """The file as a plain KEY=value loader reads it (what the official server gets in its environment)."""
    out = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip()
    return out


def login_ok(url: str, user: str, password: str, clients, name: str) -> bool:
    c = clients(name)
    try:
        c.login(url, user, password)
        return True
    except Exception as e:  # noqa: BLE001 - the client raises on a refused login
        assert "auth" in str(e).lower() or "403" in str(e) or "password" in str(e).lower(), e
        return False
    finally:
        c.close()


@pytest.fixture
def family_file(make_server, tmp_path):
    env_file = tmp_path / "etc" / "env"
    env_file.parent.mkdir()
    srv = make_server(["alice:pa"], start=False)
    srv.args = ["--env-file", str(env_file)]
    e = srv.env()
    env_file.write_text("# family server\nSYNC_USER1=alice:pa\n"
                        f"SYNC_BASE={e['SYNC_BASE']}\nSYNC_HOST={e['SYNC_HOST']}\nSYNC_PORT={e['SYNC_PORT']}\n")
    os.chmod(env_file, 0o640)
    srv.start()
    return srv, env_file


def test_user_add_passwd_remove_on_a_running_server(family_file, clients, tmp_path):
    srv, env_file = family_file

    # plaintext entries are converted only with consent; nothing changes without it
    before = env_file.read_text()
    r = admin(env_file, "user", "add", "bob", password="bob's secret")
    assert r.returncode == 1 and "--hash-existing" in r.stderr, r.stderr
    assert env_file.read_text() == before

    r = admin(env_file, "user", "add", "bob", "--hash-existing", password="bob's secret")
    assert r.returncode == 0, r.stderr
    assert "reloaded" in r.stdout, r.stdout
    env = read_env(env_file)
    assert env["PASSWORDS_HASHED"] == "1"
    assert env["SYNC_USER1"].startswith("alice:$pbkdf2-sha256$i=600000,l=32$")
    assert env["SYNC_USER2"].startswith("bob:$pbkdf2-sha256$i=600000,l=32$")
    assert "bob's secret" not in env_file.read_text() and ":pa\n" not in env_file.read_text()
    assert env_file.read_text().startswith("# family server\n")             # other lines kept
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o640                     # mode kept
    assert not [p for p in env_file.parent.iterdir() if p.name != "env"]      # no temp file left

    # bob syncs at once with the real client; alice's password is unchanged
    b = clients("bob")
    b.login(srv, "bob", "bob's secret")
    helpers.add_basic_notes(b.col, 3, prefix="bob")
    b.upload()
    assert login_ok(srv.url, "alice", "pa", clients, "alice-check")

    # a new password works at once, the old one stops working
    r = admin(env_file, "user", "passwd", "bob", password="new bob")
    assert r.returncode == 0, r.stderr
    assert not login_ok(srv.url, "bob", "bob's secret", clients, "bob-old")
    b2 = clients("bob2")
    b2.login(srv, "bob", "new bob")
    b2.download()
    assert b2.col.note_count() == 3

    r = admin(env_file, "user", "add", "carol", password="carol pw")
    assert r.returncode == 0, r.stderr
    r = admin(env_file, "user", "remove", "bob")
    assert r.returncode == 0, r.stderr
    assert not login_ok(srv.url, "bob", "new bob", clients, "bob-gone")
    assert login_ok(srv.url, "carol", "carol pw", clients, "carol")
    env = read_env(env_file)
    assert [env["SYNC_USER1"].split(":")[0], env["SYNC_USER2"].split(":")[0]] == ["alice", "carol"]
    assert "SYNC_USER3" not in env                                            # numbering stays contiguous
    r = admin(env_file, "user", "list")
    assert r.returncode == 0 and r.stdout.split() == ["alice", "hashed", "carol", "hashed"], r.stdout

    # the official server, given the same file, accepts the same logins
    official_env = helpers.base_env({k: v for k, v in env.items() if k not in ("SYNC_BASE", "SYNC_PORT", "SYNC_HOST")})
    off = helpers.Server(tmp_path / "official-base", [], kind="official", log_dir=tmp_path)
    off.extra_env = {k: v for k, v in official_env.items() if k.startswith("SYNC_USER") or k == "PASSWORDS_HASHED"}
    off.users = []
    off.start(timeout=60)
    try:
        assert login_ok(off.url, "alice", "pa", clients, "off-alice")
        assert login_ok(off.url, "carol", "carol pw", clients, "off-carol")
        assert not login_ok(off.url, "carol", "wrong", clients, "off-wrong")
    finally:
        off.stop()


def test_user_command_mistakes_name_the_fix(family_file, tmp_path):
    srv, env_file = family_file
    before = env_file.read_text()
    cases = [
        (admin(None, "user", "add", "x", password="p"), 2, "--env-file"),
        (admin(tmp_path / "missing.env", "user", "list"), 1, "does not exist"),
        (admin(env_file, "user", "passwd", "nobody", password="p"), 1, "no user 'nobody'"),
        (admin(env_file, "user", "remove", "nobody"), 1, "users: alice"),
        (admin(env_file, "user", "remove", "alice"), 1, "only user"),
        (admin(env_file, "user", "add", "alice", "--hash-existing", password="p"), 1, "already exists"),
        (admin(env_file, "user", "add", "bad name", "--hash-existing", password="p"), 1, "plainer name"),
        (admin(env_file, "user", "add", "dave", "--hash-existing", password=""), 1, "empty password"),
        (admin(tmp_path / "missing.env", "status"), 2, "does not exist"),
    ]
    for r, code, text in cases:
        assert r.returncode == code and text in r.stderr, (r.args, r.returncode, r.stderr)
        assert "CocoaError" not in r.stderr and r.stderr.count("\n") <= 1, r.stderr
    assert env_file.read_text() == before
    r = admin(env_file, "restart", "nobody")
    assert r.returncode == 1 and "no such user" in r.stderr and "user add" in r.stderr, r.stderr

    # no server running: the file is still updated, and the command says so
    srv.stop()
    r = admin(env_file, "user", "add", "erin", "--hash-existing", password="erin pw")
    assert r.returncode == 0 and "no server is running" in r.stdout, r.stdout + r.stderr
    assert read_env(env_file)["SYNC_USER2"].startswith("erin:$pbkdf2-sha256$")
    r = admin(env_file, "status")
    assert r.returncode == 1 and "no server is running" in r.stderr, r.stderr

    # something else answers on the control socket
    sock_path = srv.base / ".anki-sync-server.sock"
    with contextlib.suppress(FileNotFoundError):
        sock_path.unlink()
    with socket.socket(socket.AF_UNIX) as fake:
        fake.bind(str(sock_path))
        fake.listen(1)
        p = subprocess.Popen([str(helpers.ours_bin()), "--env-file", str(env_file), "status"], env=helpers.base_env(),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        conn, _ = fake.accept()
        conn.recv(4096)
        conn.sendall(b"220 not a sync server\n")
        conn.close()
        out, err = p.communicate(timeout=30)
    assert p.returncode == 1 and "not as anki-sync-server" in err and "SYNC_BASE" in err, err


def test_hash_password_reads_stdin_and_verifies():
    r = admin(None, "hash-password", password="correct horse")
    assert r.returncode == 0, r.stderr
    phc = r.stdout.strip()
    alg, params, salt, digest = phc.split("$")[1:]
    assert (alg, params) == ("pbkdf2-sha256", "i=600000,l=32")
    import base64
    import hashlib
    raw_salt = base64.b64decode(salt + "=" * (-len(salt) % 4))
    assert len(raw_salt) == 16
    expect = hashlib.pbkdf2_hmac("sha256", b"correct horse", raw_salt, 600000, 32)
    assert base64.b64encode(expect).decode().rstrip("=") == digest
    # a fresh salt each time
    assert admin(None, "hash-password", password="correct horse").stdout.strip() != phc
