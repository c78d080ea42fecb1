"""Deployment files (issue 8): the systemd units, the nginx and Caddy examples, the Dockerfile and
its entry point. nginx is Debian's (installed here when missing and running as root); a real sync
runs through it on loopback. Our server only."""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

import helpers
from helpers import add_basic_notes

pytestmark = pytest.mark.ours_only

REPO = helpers.REPO
DEPLOY = REPO / "deploy"


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=kw.pop("timeout", 300), **kw)


# --------------------------------------------------------------------------
# systemd
# --------------------------------------------------------------------------

def unit_settings(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")) or "=" not in line:
            continue
        k, _, v = line.partition("=")
        out.setdefault(k.strip(), []).append(v.strip())
    return out


def test_systemd_units_settings():
    s = unit_settings(DEPLOY / "anki-sync-server.service")
    assert s["User"] == ["anki-sync"]
    assert s["EnvironmentFile"] and "--env-file" in s["ExecStart"][0]
    assert s["ExecReload"][0].endswith(" reload")
    for key, value in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes"),
                       ("ProtectHome", "yes"), ("KillMode", "mixed")]:
        assert s[key] == [value], key
    assert "/var/lib/anki-sync-server" in s["ReadWritePaths"]
    assert any(v.endswith("/var/lib/anki-sync-server") for v in s["Environment"])
    b = unit_settings(DEPLOY / "backup.service")
    assert b["Type"] == ["oneshot"] and b["User"] == s["User"]
    assert "backup.sh" in b["ExecStart"][0] and "--keep" in b["ExecStart"][0]
    t = unit_settings(DEPLOY / "backup.timer")
    assert t["OnCalendar"] and t["Persistent"] == ["true"]


def test_systemd_analyze_verify(tmp_path):
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze is not installed")
    # verify insists that the commands exist: point them at this checkout's binary and script
    for name in ("anki-sync-server.service", "backup.service", "backup.timer"):
        text = (DEPLOY / name).read_text()
        text = text.replace("/usr/local/bin/anki-sync-server", str(helpers.ours_bin()))
        text = text.replace("/usr/local/share/anki-sync-server/backup.sh", str(REPO / "scripts" / "backup.sh"))
        (tmp_path / name).write_text(text)
    r = run([tool, "verify", *(tmp_path / n for n in ("anki-sync-server.service", "backup.service", "backup.timer"))],
            cwd=tmp_path)
    if r.returncode != 0 and ("Failed to initialize" in r.stderr or "Failed to setup" in r.stderr):
        pytest.skip(f"systemd-analyze cannot run here: {r.stderr.strip()[:200]}")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "anki-sync-server.service" not in r.stderr, r.stderr
    assert "backup." not in r.stderr, r.stderr


# --------------------------------------------------------------------------
# nginx
# --------------------------------------------------------------------------

def debian_package(command: str, package: str) -> str:
    """Path of `command`, installing Debian's `package` first when missing and running as root."""
    def find():
        return shutil.which(command) or next(
            (p for p in (f"/usr/sbin/{command}", f"/usr/bin/{command}") if os.access(p, os.X_OK)), None)
    found = find()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"{command} is not installed (install Debian's {package} as root to run this test)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    r = run(["apt-get", "install", "-y", "--no-install-recommends", package], env=env, timeout=600)
    if r.returncode != 0:
        run(["apt-get", "update"], env=env, timeout=600)
        r = run(["apt-get", "install", "-y", "--no-install-recommends", package], env=env, timeout=600)
    found = find()
    if not found:
        pytest.skip(f"could not install {package}: {r.stderr.strip()[-300:]}")
    # the package may start its own service where it can; these tests run their own instances only
    if shutil.which("service"):
        run(["service", command, "stop"], timeout=60)
    return found


@pytest.fixture(scope="module")
def nginx_bin() -> str:
    return debian_package("nginx", "nginx-light")


@pytest.fixture(scope="module")
def caddy_bin() -> str:
    return debian_package("caddy", "caddy")


def self_signed(tmp: Path) -> tuple[Path, Path]:
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed (needed for a test certificate)")
    crt, key = tmp / "test.crt", tmp / "test.key"
    r = run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
             "-keyout", key, "-out", crt])
    assert r.returncode == 0, r.stderr
    return crt, key


def site_config(upstream_port: int, http_port: int, https_port: int, plain_port: int, crt: Path, key: Path) -> str:
    """deploy/nginx.conf on loopback ports with a test certificate, plus the same HTTPS server as
    plain HTTP on `plain_port` (the real client would not trust the test certificate)."""
    text = (DEPLOY / "nginx.conf").read_text()
    text = text.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};")
    text = re.sub(r"^\s*listen \[::\]:\d+( ssl)?;\n", "", text, flags=re.M)
    text = text.replace("listen 80;", f"listen 127.0.0.1:{http_port};")
    text = text.replace("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    text = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {crt};", text)
    text = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {key};", text)
    # the HTTPS server block, made plain
    start = text.rindex("server {", 0, text.index(f"listen 127.0.0.1:{https_port} ssl;"))
    depth, i = 0, start
    while True:
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                break
        i += 1
    block = text[start:i + 1]
    plain = block.replace(f"listen 127.0.0.1:{https_port} ssl;", f"listen 127.0.0.1:{plain_port};")
    plain = re.sub(r"^\s*ssl_\w+[^\n]*\n", "", plain, flags=re.M)
    plain = plain.replace("ssl_session_cache", "# ssl_session_cache")
    return text + "\n# plain-HTTP copy of the HTTPS server (test only)\n" + plain + "\n"


def main_config(tmp: Path, site: Path) -> Path:
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "".join(f"    {k}_temp_path {tmp / k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp / "nginx-main.conf"
    conf.write_text(f"""{user}worker_processes 1;
pid {tmp / 'nginx.pid'};
error_log {tmp / 'error.log'} info;
events {{ worker_connections 128; }}
http {{
    access_log {tmp / 'access.log'};
{temps}    include {site};
}}
""")
    return conf


@pytest.fixture
def nginx_front(nginx_bin, make_server, tmp_path):
    srv = make_server(["alice:pa", "bob:pb"], env={"MAX_SYNC_PAYLOAD_MEGS": "100"})
    ports = [helpers.free_port() for _ in range(3)]
    crt, key = self_signed(tmp_path)
    site = tmp_path / "site.conf"
    site.write_text(site_config(srv.port, *ports, crt, key))
    conf = main_config(tmp_path, site)
    t = run([nginx_bin, "-t", "-p", tmp_path, "-c", conf])
    assert t.returncode == 0, t.stderr + "\n" + site.read_text()
    proc = subprocess.Popen([nginx_bin, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)

    def up():
        return all(_connects(p) for p in ports) or proc.poll() is not None
    helpers.wait_until(up, timeout=15, msg="nginx listening")
    assert proc.poll() is None, proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    yield srv, ports, tmp_path
    try:
        os.killpg(proc.pid, signal.SIGQUIT)
        proc.wait(10)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(5)


def _connects(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((helpers.HOST, port)) == 0


def test_nginx_example_passes_nginx_t(nginx_bin, tmp_path):
    crt, key = self_signed(tmp_path)
    site = tmp_path / "site.conf"
    ports = [helpers.free_port() for _ in range(4)]
    site.write_text(site_config(*ports, crt, key))
    r = run([nginx_bin, "-t", "-p", tmp_path, "-c", main_config(tmp_path, site)])
    assert r.returncode == 0, r.stderr
    assert "syntax is ok" in r.stderr and "test is successful" in r.stderr
    text = (DEPLOY / "nginx.conf").read_text()
    assert re.search(r"ssl_protocols[^;]*TLSv1\.2", text)
    for directive in ("proxy_request_buffering off;", "client_max_body_size 0;", "location /anki/",
                      "location = /anki", "proxy_http_version 1.1;"):
        assert directive in text, directive


def test_sync_through_nginx(nginx_front, clients, tmp_path):
    srv, (http_port, https_port, plain_port), ngx_tmp = nginx_front
    # TLS 1.2 is accepted (iOS), and the redirect from plain HTTP goes to HTTPS
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection((helpers.HOST, https_port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as tls:
            assert tls.version() == "TLSv1.2"
            tls.sendall(b"GET /anki/health HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            head = tls.recv(200)
            assert head.startswith(b"HTTP/1.1 200"), head
    with helpers.RawConn(http_port) as c:
        r = c.request(helpers.http_request("GET", "/anki/health", port=http_port))
        assert r.status == 301 and r.headers["location"].startswith("https://"), r
    with helpers.RawConn(plain_port) as c:
        r = c.request(helpers.http_request("GET", "/anki", port=plain_port))
        assert r.status == 308 and r.headers["location"].endswith("/anki/"), r

    # a real sync through the proxy, mounted at /anki/, with a collection well over nginx's
    # default 1 MiB body limit and a media file of several MiB
    url = f"http://{helpers.HOST}:{plain_port}/anki/"
    a = clients("via-nginx-a")
    a.login(url, "alice", "pa")
    add_basic_notes(a.col, 200, prefix="proxied")
    a.col.db.execute("update notes set flds = flds || ?", os.urandom(12_000).hex())
    a.upload()
    assert (srv.base / "alice" / "collection.anki2").stat().st_size > 2 * 1024 * 1024
    big = os.urandom(3 * 1024 * 1024)
    a.col.media.write_data("big.bin", big)
    a.col.sync_media(a.auth)
    _wait_media(a)
    b = clients("via-nginx-b")
    b.login(url, "alice", "pa")
    b.download()
    assert b.col.note_count() == 200
    b.col.sync_media(b.auth)
    _wait_media(b)
    assert (Path(b.col.media.dir()) / "big.bin").read_bytes() == big
    add_basic_notes(b.col, 5, prefix="normal", seed=4)
    assert b.required() in ("NORMAL_SYNC", "NO_CHANGES")
    assert a.required() in ("NORMAL_SYNC", "NO_CHANGES")
    assert b.col.note_count() == 205, b.col.note_count()
    assert a.col.note_count() == 205, a.col.note_count()
    access = (ngx_tmp / "access.log").read_text()
    assert "/anki/sync/upload" in access and "/anki/msync/uploadChanges" in access


def _wait_media(client, timeout=60.0):
    deadline = time.monotonic() + timeout
    while client.col.media_sync_status().active:
        assert time.monotonic() < deadline, "media sync still running"
        time.sleep(0.02)


# --------------------------------------------------------------------------
# Caddy, Docker
# --------------------------------------------------------------------------

def test_caddyfile(caddy_bin, tmp_path):
    text = (DEPLOY / "Caddyfile").read_text()
    assert re.search(r"protocols tls1\.2", text)
    assert "handle /anki/*" in text and "redir /anki /anki/ 308" in text
    assert "handle_path" not in text.replace("`handle_path`", "")
    r = run([caddy_bin, "adapt", "--config", DEPLOY / "Caddyfile", "--adapter", "caddyfile"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    # the documented variant for a private CA / self-signed certificate: the files on the tls line
    assert "tls /etc/caddy/anki.crt /etc/caddy/anki.key" in text
    own = tmp_path / "Caddyfile.own-cert"
    own.write_text(text.replace("\ttls {", "\ttls /etc/caddy/anki.crt /etc/caddy/anki.key {", 1))
    r = run([caddy_bin, "adapt", "--config", own, "--adapter", "caddyfile"], cwd=tmp_path)
    assert r.returncode == 0 and "anki.crt" in r.stdout, r.stderr


def test_sync_through_caddy(caddy_bin, make_server, clients, tmp_path):
    """The Caddyfile's site block on a loopback plain-HTTP address (no certificate), real sync."""
    caddy = caddy_bin
    srv = make_server(["alice:pa"])
    port = helpers.free_port()
    text = (DEPLOY / "Caddyfile").read_text()
    text = text.replace("reverse_proxy 127.0.0.1:8080", f"reverse_proxy 127.0.0.1:{srv.port}")
    text = text.replace("anki.example.org {", f"http://127.0.0.1:{port} {{", 1)
    text = re.sub(r"\n\ttls \{.*?\n\t\}\n", "\n", text, flags=re.S)
    assert "tls {" not in text
    conf = tmp_path / "Caddyfile"
    conf.write_text("{\n\tadmin off\n\tauto_https off\n\tstorage file_system " + str(tmp_path / "caddy") + "\n}\n\n" + text)
    env = dict(os.environ, HOME=str(tmp_path), XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    log = open(tmp_path / "caddy.log", "wb")
    proc = subprocess.Popen([caddy, "run", "--config", str(conf), "--adapter", "caddyfile"], env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        helpers.wait_until(lambda: _connects(port) or proc.poll() is not None, timeout=20, msg="caddy listening")
        assert proc.poll() is None, (tmp_path / "caddy.log").read_text()
        with helpers.RawConn(port) as c:
            r = c.request(helpers.http_request("GET", "/anki", port=port))
            assert r.status == 308 and r.headers["location"].endswith("/anki/"), r
        url = f"http://{helpers.HOST}:{port}/anki/"
        a = clients("via-caddy-a")
        a.login(url, "alice", "pa")
        add_basic_notes(a.col, 100, prefix="caddy")
        a.col.db.execute("update notes set flds = flds || ?", os.urandom(12_000).hex())
        a.upload()
        big = os.urandom(3 * 1024 * 1024)
        a.col.media.write_data("big.bin", big)
        a.col.sync_media(a.auth)
        _wait_media(a)
        b = clients("via-caddy-b")
        b.login(url, "alice", "pa")
        b.download()
        assert b.col.note_count() == 100
        b.col.sync_media(b.auth)
        _wait_media(b)
        assert (Path(b.col.media.dir()) / "big.bin").read_bytes() == big
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), " ".join(rest.split())))
    return out


def test_dockerfile_installs_the_release_archive():
    ins = dockerfile_instructions()
    froms = [v for k, v in ins if k == "FROM"]
    assert len(froms) == 1, "a thin runtime image: no toolchain stage"
    args = dict(v.split("=", 1) for k, v in ins if k == "ARG" and "=" in v)
    assert re.fullmatch(r"debian:\w+-slim", args["RUNTIME_IMAGE"])
    runs = " ".join(v for k, v in ins if k == "RUN")
    for pkg in ("libsqlite3-0", "libzstd1", "zlib1g"):
        assert re.search(rf"\b{re.escape(pkg)}\b", runs), pkg
    assert "swift build" not in runs and "-dev" not in runs
    # the archive scripts/package writes, installed by its own install.sh
    copies = [v for k, v in ins if k == "COPY"]
    assert any(v.startswith("dist/anki-sync-server-") and v.split()[0].endswith(".tar.gz") for v in copies), copies
    assert "/install.sh" in runs and "SYNC_BASE=/data" in runs
    package = (REPO / "scripts" / "package").read_text()
    assert 'name="anki-sync-server-$version-linux-$arch"' in package and "install.sh" in package
    assert ("VOLUME", "/data") in ins
    health = [v for k, v in ins if k == "HEALTHCHECK"]
    assert health and health[0].endswith('CMD ["/usr/local/bin/anki-sync-server", "--healthcheck"]')
    env = " ".join(v for k, v in ins if k == "ENV")
    assert "PUID=" in env and "PGID=" in env and "SYNC_BASE=/data" in env
    # .dockerignore lets exactly the archive through
    ignore = [l.strip() for l in (REPO / ".dockerignore").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert ignore == ["*", "!dist/anki-sync-server-*-linux-*.tar.gz"]


def test_healthcheck_with_and_without_env_file(make_server, tmp_path):
    """The image's health-check command, run as the image runs it: its environment has SYNC_HOST and
    SYNC_PORT but the users may be only in an env file named on the server's command line."""
    check = [str(helpers.ours_bin()), "--healthcheck"]
    # 1. users in the environment
    srv = make_server(["alice:pa"])
    only_addr = helpers.base_env({"SYNC_HOST": helpers.HOST, "SYNC_PORT": str(srv.port)})
    assert run(check, env=srv.env()).returncode == 0
    assert run(check, env=only_addr).returncode == 0
    srv.stop()
    assert run(check, env=only_addr).returncode == 1          # nobody answers: unhealthy
    # 2. users only in --env-file
    env_file = tmp_path / "env"
    srv2 = make_server([], start=False)
    env_file.write_text(f"SYNC_USER1=alice:pa\nSYNC_BASE={srv2.base}\n")
    srv2.args = ["--env-file", str(env_file)]
    srv2.start()
    only_addr = helpers.base_env({"SYNC_HOST": helpers.HOST, "SYNC_PORT": str(srv2.port)})
    r = run(check, env=only_addr)
    assert r.returncode == 0, r.stderr
    assert run([*check, "--env-file", env_file], env=only_addr).returncode == 0
    r = run(check, env=helpers.base_env({"SYNC_PORT": "nope"}))
    assert r.returncode == 2 and "SYNC_PORT" in r.stderr


def test_docker_entrypoint_drops_to_puid(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root (the entry point changes users)")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is not installed")
    data = tmp_path / "data"
    data.mkdir()
    (data / "alice").mkdir()
    (data / "alice" / "collection.anki2").write_bytes(b"x")
    env = dict(os.environ, PUID="65534", PGID="65534", SYNC_BASE=str(data))
    r = run([DEPLOY / "docker-entrypoint.sh", "sh", "-c", "id -u; id -g; id -G"], env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["65534", "65534", "65534"]
    for p in [data, *data.rglob("*")]:
        st = p.stat()
        assert (st.st_uid, st.st_gid) == (65534, 65534), p
    r = run([DEPLOY / "docker-entrypoint.sh", "true"], env=dict(env, PUID="0"))
    assert r.returncode == 2 and "root" in r.stderr
