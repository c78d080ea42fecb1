"""The release archive (issue 17): scripts/package builds it (one release build, reused while the
sources are unchanged; or give a prebuilt one with ANKI_SYNC_PACKAGE=path.tar.gz), install.sh puts
it into a scratch root (DESTDIR), and the installed binary — with nothing but the installed env file
— starts, answers status and the health check, syncs a real client, and runs the installed
backup.sh and restore.sh. Our server only."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

import helpers
from helpers import add_basic_notes

pytestmark = pytest.mark.ours_only

REPO = helpers.REPO


def run(cmd, env=None, input=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, env=env,
                          input=input, stdin=None if input is not None else subprocess.DEVNULL)


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    given = os.environ.get("ANKI_SYNC_PACKAGE")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("dist")
    r = run(["bash", REPO / "scripts" / "package", "--out", out], timeout=3600)
    assert r.returncode == 0, r.stderr[-3000:]
    path = Path(r.stdout.strip().splitlines()[-1])
    assert path.parent == out and path.is_file()
    return path


def clean_env(**extra) -> dict:
    """No SYNC_* from outside and no anki-sync-server on PATH: only the installed files count."""
    env = helpers.base_env()
    env.pop("ANKI_SYNC_SERVER_BIN", None)
    env["PATH"] = "/usr/bin:/bin"
    env.update(extra)
    return env


def test_archive_installs_and_runs_with_only_its_env_file(archive, tmp_path, clients, request):
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        top = names[0].split("/")[0]
        for member in ("bin/anki-sync-server", "bin/anki-sync-worker", "share/backup.sh", "share/restore.sh",
                       "deploy/anki-sync-server.service", "install.sh", "README.md", "LICENSE"):
            assert f"{top}/{member}" in names, member
        tar.extractall(tmp_path / "pkg", filter="tar")
    pkg = tmp_path / "pkg" / top
    for b in ("anki-sync-server", "anki-sync-worker"):
        r = run(["nm", pkg / "bin" / b])
        assert "no symbols" in r.stderr, f"{b} is not stripped"
        needed = run(["ldd", pkg / "bin" / b]).stdout
        assert "libswiftCore" not in needed and "not found" not in needed, needed

    # a short root: SYNC_BASE below it must leave room for the control socket's path (108 bytes)
    root = Path(tempfile.mkdtemp(prefix="asp-"))
    request.addfinalizer(lambda: shutil.rmtree(root, ignore_errors=True))
    port = helpers.free_port()
    base = root / "var" / "lib" / "anki-sync-server"
    r = run(["sh", pkg / "install.sh"], env=clean_env(DESTDIR=str(root), SYNC_BASE=str(base),
                                                      SYNC_HOST=helpers.HOST, SYNC_PORT=str(port)))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "installing files only" in r.stdout, r.stdout
    bin_ = root / "usr" / "local" / "bin" / "anki-sync-server"
    share = root / "usr" / "local" / "share" / "anki-sync-server"
    env_file = root / "etc" / "anki-sync-server" / "env"
    for p in (bin_, bin_.with_name("anki-sync-worker"), share / "backup.sh", share / "restore.sh",
              root / "etc" / "systemd" / "system" / "anki-sync-server.service",
              root / "etc" / "systemd" / "system" / "anki-sync-server-backup.timer", base):
        assert p.exists(), p
    settings = dict(l.split("=", 1) for l in env_file.read_text().splitlines() if l and not l.startswith("#"))
    assert settings == {"SYNC_BASE": str(base), "SYNC_HOST": helpers.HOST, "SYNC_PORT": str(port)}
    assert oct(env_file.stat().st_mode & 0o777) == "0o640"
    # running it again keeps the env file
    r = run(["sh", pkg / "install.sh"], env=clean_env(DESTDIR=str(root)))
    assert r.returncode == 0 and "keeping" in r.stdout, r.stdout + r.stderr
    assert dict(l.split("=", 1) for l in env_file.read_text().splitlines() if l and not l.startswith("#")) == settings

    env = clean_env()
    ef = ["--env-file", env_file]
    r = run([bin_, *ef, "user", "add", "alice"], env=env, input="alice pw\n")
    assert r.returncode == 0 and "no server is running" in r.stdout, r.stdout + r.stderr

    log = open(tmp_path / "installed-server.log", "wb")
    proc = subprocess.Popen([str(bin_), *map(str, ef)], env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        helpers.wait_until(lambda: helpers.health_status(port, 0.5) == 200, timeout=30, msg="installed server up")
        # the health check: with the env file, and with only SYNC_HOST/SYNC_PORT (as in the image)
        assert run([bin_, *ef, "--healthcheck"], env=env).returncode == 0
        assert run([bin_, "--healthcheck"], env=clean_env(SYNC_HOST=helpers.HOST, SYNC_PORT=str(port))).returncode == 0
        r = run([bin_, *ef, "status"], env=env)
        assert r.returncode == 0 and "alice" in r.stdout, r.stdout + r.stderr

        url = f"http://{helpers.HOST}:{port}/"
        c = clients("alice")
        c.login(url, "alice", "alice pw")
        add_basic_notes(c.col, 8, prefix="installed")
        c.upload()
        c.col.media.write_data("pic.txt", b"installed media " * 20)
        c.col.sync_media(c.auth)
        helpers.wait_until(lambda: not c.col.media_sync_status().active, timeout=60, msg="media sync")
        assert (base / "alice" / "media" / "pic.txt").exists()

        dest = tmp_path / "backups"
        r = run(["bash", share / "backup.sh", *ef, dest], env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        (snap,) = [p for p in dest.iterdir() if not p.name.startswith(".")]
        add_basic_notes(c.col, 2, prefix="after")
        c.sync()
        r = run(["bash", share / "restore.sh", *ef, snap / "alice", "alice"], env=env)
        assert r.returncode == 0 and "restored" in r.stdout, r.stdout + r.stderr
        assert c.required() in ("FULL_SYNC", "FULL_DOWNLOAD")
        fresh = clients("fresh")
        fresh.login(url, "alice", "alice pw")
        fresh.download()
        assert fresh.col.note_count() == 8
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            log.close()
    assert proc.returncode == 0, (tmp_path / "installed-server.log").read_text()[-3000:]


def test_install_refuses_outside_an_archive(tmp_path):
    r = run(["sh", REPO / "deploy" / "install.sh"], env=clean_env(DESTDIR=str(tmp_path / "root")))
    assert r.returncode == 1 and "release archive" in r.stderr, r.stderr
    assert not (tmp_path / "root").exists()
