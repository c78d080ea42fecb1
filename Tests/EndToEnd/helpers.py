"""Helpers for the end-to-end suite: launching a server, raw HTTP/v11 requests,
/proc inspection, real-client wrappers, collection builders and a canonical
collection dump.

Everything here is plain Python standard library plus `zstandard` and the
`anki` package (the real Rust sync client), both from the project's .venv.
"""
from __future__ import annotations

import base64
import atexit
import contextlib
import hashlib
import io
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[2]
DEFAULT_BIN = REPO / ".build" / "debug" / "anki-sync-server"
CORRUPT_TEXT = "Your upload was corrupt. Please use Check Database, or restore from backup."
WORKER_NAME = "anki-sync-worker"

# the Rust client honours *_proxy variables; keep loopback traffic direct
for _var in ("no_proxy", "NO_PROXY"):
    os.environ[_var] = ",".join(x for x in (os.environ.get(_var), HOST, "localhost") if x)


def server_kind() -> str:
    """'ours' (default) or 'official'; set by conftest from --server / E2E_SERVER."""
    return os.environ.get("E2E_SERVER", "ours")


def ours_bin() -> Path:
    return Path(os.environ.get("ANKI_SYNC_SERVER_BIN") or DEFAULT_BIN)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def sha1hex(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def b64_nopad(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def make_phc(password: str, alg: str = "sha256", rounds: int = 1000,
             salt: bytes | None = None, length: int | None = None) -> str:
    """PHC string `$pbkdf2-<alg>$i=<rounds>,l=<len>$<salt B64>$<hash B64>` (no padding).
    The salt used for hashing is the B64-decoded bytes, as in the reference server."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    length = length or (32 if alg == "sha256" else 64)
    dk = hashlib.pbkdf2_hmac(alg, password.encode(), salt, rounds, length)
    return f"$pbkdf2-{alg}$i={rounds},l={length}${b64_nopad(salt)}${b64_nopad(dk)}"


# --------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------

def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def ppid_of(pid: int) -> int | None:
    s = _read(f"/proc/{pid}/stat")
    if not s:
        return None
    fields = s[s.rfind(")") + 2:].split()
    return int(fields[1])


def proc_state(pid: int) -> str | None:
    s = _read(f"/proc/{pid}/stat")
    if not s:
        return None
    return s[s.rfind(")") + 2:].split()[0]


def cmdline(pid: int) -> list[str]:
    s = _read(f"/proc/{pid}/cmdline")
    return [x for x in (s or "").split("\0") if x]


def children(pid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit() and ppid_of(int(name)) == pid:
            out.append(int(name))
    return sorted(out)


def live_children(pid: int) -> list[int]:
    """Children that are not zombies."""
    return [c for c in children(pid) if proc_state(c) not in (None, "Z", "X")]


def worker_children(sup_pid: int) -> dict[str, int]:
    """{user: pid} of live `anki-sync-worker <user>` children of the supervisor."""
    out: dict[str, int] = {}
    for c in live_children(sup_pid):
        argv = cmdline(c)
        if argv and os.path.basename(argv[0]) == WORKER_NAME:
            user = argv[1] if len(argv) > 1 else ""
            assert user not in out, f"two workers for {user!r}: {out[user]} and {c}"
            out[user] = c
    return out


def open_paths(pid: int) -> list[str]:
    """Targets of /proc/<pid>/fd/* (files, sockets, pipes ...)."""
    out = []
    d = f"/proc/{pid}/fd"
    try:
        names = os.listdir(d)
    except OSError:
        return out
    for n in names:
        with contextlib.suppress(OSError):
            out.append(os.readlink(f"{d}/{n}"))
    return out


def wait_until(pred, timeout: float = 10.0, interval: float = 0.05, msg: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {msg}")
        time.sleep(interval)


# --------------------------------------------------------------------------
# server process
# --------------------------------------------------------------------------

def server_command(kind: str | None = None) -> list[str]:
    kind = kind or server_kind()
    if kind == "official":
        return [sys.executable, "-m", "anki.syncserver"]
    if kind == "floor":         # the benchmark's stand-in that does no server work
        return [sys.executable, str(REPO / "scripts" / "bench-floor-server.py")]
    return [str(ours_bin())]


def base_env(extra: dict | None = None) -> dict:
    """The inherited environment minus any SYNC_* / PASSWORDS_HASHED / MAX_SYNC_* leftovers."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("SYNC_") or k in ("PASSWORDS_HASHED", "MAX_SYNC_PAYLOAD_MEGS"))}
    env.setdefault("RUST_LOG", "anki=info")
    env.update(extra or {})
    return env


def users_env(users) -> dict:
    """users: list of 'user:pass' strings (or (user, pass) tuples) → SYNC_USERn."""
    env = {}
    for i, u in enumerate(users, 1):
        env[f"SYNC_USER{i}"] = u if isinstance(u, str) else f"{u[0]}:{u[1]}"
    return env


_LIVE: set = set()


@atexit.register
def _kill_leftovers():
    """Safety net: no server outlives the test process, even after a crash."""
    for srv in list(_LIVE):
        with contextlib.suppress(Exception):
            srv.stop(sig=signal.SIGKILL, timeout=2)


class Server:
    """One launched server (ours or the official one), in its own process group."""

    def __init__(self, base: Path, users, extra_env: dict | None = None,
                 kind: str | None = None, port: int | None = None, log_dir: Path | None = None,
                 args: list[str] | None = None):
        self.kind = kind or server_kind()
        self.args = list(args or [])
        self.base = Path(base)
        self.users = list(users)
        self.extra_env = dict(extra_env or {})
        self.port = port or free_port()
        self.log_path = Path(log_dir or self.base.parent) / f"server-{self.port}-{time.time_ns()}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def env(self) -> dict:
        env = base_env(users_env(self.users))
        env.update(SYNC_BASE=str(self.base), SYNC_HOST=HOST, SYNC_PORT=str(self.port))
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 30.0) -> "Server":
        self.base.mkdir(parents=True, exist_ok=True)
        cmd = server_command(self.kind) + self.args
        if self.kind == "ours" and not Path(cmd[0]).exists():
            raise RuntimeError(f"server binary {cmd[0]} not found (set ANKI_SYNC_SERVER_BIN)")
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(cmd, env=self.env(), stdin=subprocess.DEVNULL,
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        _LIVE.add(self)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode} during start-up:\n"
                                   + self.log_tail())
            if health_status(self.port, 0.5) == 200:
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"server did not answer /health within {timeout}s:\n"
                                   + self.log_tail())
            time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        # always sweep the whole group (workers included)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)
        self.proc = None
        _LIVE.discard(self)

    def restart(self) -> "Server":
        self.stop()
        return self.start()

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])

    def hkey(self, user: str) -> str:
        for u in self.users:
            name, _, rest = (u if isinstance(u, str) else f"{u[0]}:{u[1]}").partition(":")
            if name == user:
                return sha1hex(f"{name}:{rest}")
        raise KeyError(user)

    def password(self, user: str) -> str:
        for u in self.users:
            name, _, rest = (u if isinstance(u, str) else f"{u[0]}:{u[1]}").partition(":")
            if name == user:
                return rest
        raise KeyError(user)

    def workers(self) -> dict[str, int]:
        return worker_children(self.pid)


def run_server_expect_exit(env_extra: dict, base: Path, timeout: float = 15.0,
                           kind: str | None = None, args: list[str] | None = None):
    """Run the server with a given configuration, expecting it to exit by itself.
    Returns CompletedProcess (stdout/stderr as text). Kills it if still running."""
    env = base_env()
    env.update(SYNC_BASE=str(base), SYNC_HOST=HOST, SYNC_PORT=str(free_port()))
    env.update(env_extra)
    env = {k: v for k, v in env.items() if v is not None}
    cmd = server_command(kind) + (args or [])
    p = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        return subprocess.CompletedProcess(cmd, None, out.decode(errors="replace"),
                                           err.decode(errors="replace"))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(p.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(cmd, p.returncode, out.decode(errors="replace"),
                                       err.decode(errors="replace"))


# --------------------------------------------------------------------------
# raw HTTP
# --------------------------------------------------------------------------

@dataclass
class Response:
    status: int
    reason: str
    headers: dict = field(default_factory=dict)   # lower-case names; last value wins
    raw_body: bytes = b""

    @property
    def body(self) -> bytes:
        """Decoded body: zstd removed when the response carries anki-original-size."""
        if "anki-original-size" in self.headers:
            return zstd_decompress(self.raw_body)
        return self.raw_body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return (f"<Response {self.status} {self.reason!r} headers={self.headers} "
                f"body={self.raw_body[:200]!r}>")


class ConnectionClosed(Exception):
    pass


class RawConn:
    """A raw TCP connection speaking HTTP/1.1 by hand (keep-alive capable)."""

    def __init__(self, port: int, timeout: float = 20.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self) -> bool:
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def _read_until(self, sep: bytes) -> bytes:
        while sep not in self.buf:
            if not self._fill():
                raise ConnectionClosed(f"connection closed before {sep!r}; have {self.buf[:200]!r}")
        i = self.buf.index(sep)
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def _read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ConnectionClosed(f"connection closed with {len(self.buf)}/{n} body bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True if the peer closes (EOF or reset) within timeout and sends nothing more."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False
        return data == b""

    def read_response(self, head_request: bool = False) -> Response:
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        reason = parts[2] if len(parts) > 2 else ""
        headers: dict[str, str] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        body = b""
        if head_request or status in (204, 304) or 100 <= status < 200:
            pass
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = self._read_until(b"\r\n").split(b";")[0].strip()
                size = int(size_line, 16)
                if size == 0:
                    # trailers until empty line
                    while self._read_until(b"\r\n"):
                        pass
                    break
                body += self._read_exact(size)
                self._read_exact(2)
        elif "content-length" in headers:
            body = self._read_exact(int(headers["content-length"]))
        else:
            while self._fill():
                pass
            body, self.buf = self.buf, b""
        return Response(status, reason, headers, body)

    def request(self, data: bytes) -> Response:
        self.send(data)
        return self.read_response()


def zstd_compress(data: bytes) -> bytes:
    """Like the Rust client: a streaming frame without content size or checksum."""
    cctx = zstandard.ZstdCompressor(write_content_size=False, write_checksum=False)
    out = io.BytesIO()
    with cctx.stream_writer(out, closefd=False) as w:
        w.write(data)
    return out.getvalue()


def zstd_decompress(data: bytes) -> bytes:
    return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data), read_across_frames=True).read()


def sync_header(hkey: str = "", skey: str = "", version: int = 11, client: str = "e2e-test,0,linux") -> str:
    return json.dumps({"v": version, "k": hkey, "c": client, "s": skey}, separators=(",", ":"))


def chunked(body: bytes, piece: int = 16384) -> bytes:
    out = b""
    for i in range(0, len(body), piece):
        part = body[i:i + piece]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def http_request(method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                 port: int | None = None, use_chunked: bool = False) -> bytes:
    hdrs = {"host": f"{HOST}:{port}" if port else HOST}
    hdrs.update(headers or {})
    if body is not None:
        if use_chunked:
            hdrs["transfer-encoding"] = "chunked"
        else:
            hdrs["content-length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
    data = head.encode("latin-1")
    if body is not None:
        data += chunked(body) if use_chunked else body
    return data


def v11_request(method: str, payload, hkey: str = "", skey: str = "", *, port: int | None = None,
                version: int = 11, compress: bool = True, use_chunked: bool = True,
                header: str | None = None, prefix: str = "sync", http_method: str = "POST") -> bytes:
    """Bytes of one v11 request.  payload: dict/list/None → JSON; bytes → as is."""
    if isinstance(payload, (bytes, bytearray)):
        body = bytes(payload)
    else:
        body = json.dumps(payload).encode()
    if compress:
        body = zstd_compress(body)
    hdrs = {"anki-sync": header if header is not None else sync_header(hkey, skey, version),
            "content-type": "application/octet-stream", "accept": "*/*"}
    return http_request(http_method, f"/{prefix}/{method}", body, hdrs, port=port, use_chunked=use_chunked)


def v11(port: int, method: str, payload, hkey: str = "", skey: str = "", timeout: float = 60.0,
        **kw) -> Response:
    """One v11 request on a fresh connection."""
    with RawConn(port, timeout=timeout) as c:
        return c.request(v11_request(method, payload, hkey, skey, port=port, **kw))


def health_status(port: int, timeout: float = 2.0) -> int | None:
    try:
        with RawConn(port, timeout=timeout) as c:
            return c.request(http_request("GET", "/health", port=port)).status
    except (OSError, ConnectionClosed, AssertionError):
        return None


def meta(port: int, hkey: str) -> Response:
    return v11(port, "meta", {"v": 11, "cv": "anki,26.09.3 (e2e),linux"}, hkey, "m" + secrets.token_hex(3))


def assert_plain_error(r: Response, status: int):
    """An error answer: the given status, no zstd, no anki-original-size."""
    assert r.status == status, r
    assert "anki-original-size" not in r.headers, r
    assert not r.raw_body.startswith(b"\x28\xb5\x2f\xfd"), f"error body is zstd: {r!r}"


def assert_serving(srv: Server, user: str | None = None):
    """The server still answers /health (and meta for `user`)."""
    assert health_status(srv.port) == 200, "server stopped serving:\n" + srv.log_tail()
    if user:
        r = meta(srv.port, srv.hkey(user))
        assert r.status == 200, f"{r!r}\n{srv.log_tail()}"


# --------------------------------------------------------------------------
# real client
# --------------------------------------------------------------------------

def _anki():
    from anki.collection import Collection
    from anki.sync_pb2 import SyncCollectionResponse
    return Collection, SyncCollectionResponse


def required_name(value: int) -> str:
    _, SCR = _anki()
    return SCR.ChangesRequired.Name(value)


class Client:
    """One Anki profile: its own collection file and Rust backend."""

    def __init__(self, root: Path, name: str, src: Path | None = None):
        Collection, _ = _anki()
        self.dir = Path(root) / name
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.path = self.dir / "collection.anki2"
        if src:
            shutil.copyfile(src, self.path)
        self.col = Collection(str(self.path))
        self.auth = None

    def login(self, srv_or_url, user: str, password: str | None = None):
        if isinstance(srv_or_url, Server):
            url = srv_or_url.url
            password = srv_or_url.password(user) if password is None else password
        else:
            url = srv_or_url
        self.auth = self.col.sync_login(user, password, url)
        return self.auth

    def sync(self):
        """Normal sync / status check; returns SyncCollectionResponse."""
        return self.col.sync_collection(self.auth, False)

    def required(self) -> str:
        return required_name(self.sync().required)

    def full(self, upload: bool):
        self.col.close_for_full_sync()
        try:
            self.col.full_upload_or_download(auth=self.auth, server_usn=None, upload=upload)
        finally:
            self.col.reopen(after_full_sync=True)

    def upload(self):
        self.full(True)

    def download(self):
        self.full(False)

    def check_database(self):
        problems, ok = self.col.fix_integrity()
        return problems, ok

    def count(self, table: str) -> int:
        return self.col.db.scalar(f"select count() from {table}")

    def close(self):
        if self.col is not None:
            with contextlib.suppress(Exception):
                self.col.close()
            self.col = None


def two_devices(srv: Server, clients, user: str, notes: int = 1) -> tuple[Client, Client]:
    """Device A uploads a collection of `notes` notes; device B downloads it."""
    a, b = clients("a"), clients("b")
    add_basic_notes(a.col, notes)
    for c in (a, b):
        c.login(srv, user)
    a.sync()
    a.upload()
    b.sync()
    b.download()
    return a, b


def pending(col) -> int:
    return sum(col.db.scalar(f"select count() from {t} where usn = -1")
               for t in ("notes", "cards", "revlog"))


# --------------------------------------------------------------------------
# collection builders
# --------------------------------------------------------------------------

def add_basic_notes(col, n: int, deck: str = "Default", notetype: str = "Basic (and reversed card)",
                    prefix: str = "front", tags=(), seed: int = 1):
    from anki.collection import AddNoteRequest
    rng = random.Random(seed)
    nt = col.models.by_name(notetype)
    did = col.decks.id(deck)
    reqs = []
    for i in range(n):
        note = col.new_note(nt)
        fields = note.keys()
        note[fields[0]] = f"{prefix} {i} <b>{rng.randrange(10**9)}</b>"
        if len(fields) > 1:
            note[fields[1]] = f"back {i} " + " ".join(str(rng.randrange(10**6)) for _ in range(5))
        for t in tags:
            note.tags.append(t)
        note.tags.append(f"t{i % 7}")
        reqs.append(AddNoteRequest(note=note, deck_id=did))
    col.add_notes(reqs)
    return [r.note.id for r in reqs]


def answer_some_cards(col, n: int):
    """Review n cards through the real scheduler (creates revlog rows)."""
    from anki.scheduler_pb2 import CardAnswer
    done = 0
    ratings = [CardAnswer.AGAIN, CardAnswer.HARD, CardAnswer.GOOD, CardAnswer.EASY]
    while done < n:
        queued = col.sched.get_queued_cards(fetch_limit=1)
        if not queued.cards:
            break
        card = col.get_card(queued.cards[0].card.id)
        card.start_timer()
        states = queued.cards[0].states
        col.sched.answer_card(col.sched.build_answer(card=card, states=states,
                                                     rating=ratings[done % 4]))
        done += 1
    return done


def build_rich_collection(col, n_notes: int = 1000, reviews: int = 40):
    """A collection exercising every synced table: notes/cards (bulk), revlog (real
    reviews), decks incl. a subdeck and a filtered deck, a custom deck config, a custom
    notetype with 3 fields, 2 templates and CSS, tags, and collection config keys."""
    # custom notetype
    mm = col.models
    nt = mm.new("E2E Vocab")
    for fname in ("Word", "Meaning", "Example"):
        mm.add_field(nt, mm.new_field(fname))
    t1 = mm.new_template("Recognition")
    t1["qfmt"] = "{{Word}}"
    t1["afmt"] = "{{FrontSide}}<hr id=answer>{{Meaning}}<br>{{Example}}"
    t2 = mm.new_template("Production")
    t2["qfmt"] = "{{Meaning}}"
    t2["afmt"] = "{{FrontSide}}<hr id=answer>{{Word}}"
    mm.add_template(nt, t1)
    mm.add_template(nt, t2)
    nt["css"] = ".card { font-family: 'E2E Serif'; color: #123456; }\n.e2e { margin: 7px; }"
    mm.add(nt)
    # decks and a custom deck config
    col.decks.id("E2E::Sub::Leaf")
    conf = col.decks.add_config_returning_id("E2E Config")
    cdict = col.decks.get_config(conf)
    cdict["new"]["perDay"] = 37
    cdict["rev"]["perDay"] = 321
    col.decks.update_config(cdict)
    deck = col.decks.get(col.decks.id("E2E"))
    deck["conf"] = conf
    col.decks.save(deck)
    # notes
    n_custom = max(1, n_notes // 10)
    add_basic_notes(col, n_notes - n_custom, deck="E2E::Sub", tags=("e2e", "bulk::basic"))
    add_basic_notes(col, n_custom, deck="E2E", notetype="E2E Vocab", prefix="word",
                    tags=("e2e", "vocab"), seed=2)
    # reviews (revlog)
    col.decks.select(col.decks.id("E2E"))
    answer_some_cards(col, reviews)
    # filtered deck
    with contextlib.suppress(Exception):
        did = col.decks.new_filtered("E2E Filtered")
        fd = col.decks.get(did)
        fd["terms"] = [["tag:vocab", 20, 0]]
        col.decks.save(fd)
        col.sched.rebuild_filtered_deck(did)
    # config keys
    col.set_config("e2eNumber", 42)
    col.set_config("e2eObject", {"a": [1, 2, 3], "b": "Übung"})
    col.set_config("e2eString", "ß and SS")
    return col


# --------------------------------------------------------------------------
# canonical dump
# --------------------------------------------------------------------------

def _rows(col, sql):
    return [tuple(bytes(x) if isinstance(x, (bytes, bytearray, memoryview)) else x for x in r)
            for r in col.db.all(sql)]


def canonical_dump(col) -> dict:
    """Everything a full sync must carry over, in a comparable form.

    Excludes only what a full sync legitimately changes: col.mod / col.usn / col.ls
    (the server bumps usn and mod on download; the client sets ls)."""
    d: dict = {}
    d["col"] = _rows(col, "select crt, scm, ver from col")
    d["notes"] = _rows(col, "select id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data "
                            "from notes order by id")
    d["cards"] = _rows(col, "select * from cards order by id")
    d["revlog"] = _rows(col, "select * from revlog order by id")
    d["graves"] = _rows(col, "select * from graves order by oid, type")
    d["tags"] = _rows(col, "select tag, usn, collapsed, config from tags order by tag")
    d["decks"] = _rows(col, "select id, name, mtime_secs, usn, common, kind from decks order by id")
    d["deck_config"] = _rows(col, "select id, name, mtime_secs, usn, config from deck_config order by id")
    d["notetypes"] = _rows(col, "select id, name, mtime_secs, usn, config from notetypes order by id")
    d["fields"] = _rows(col, "select ntid, ord, name, config from fields order by ntid, ord")
    d["templates"] = _rows(col, "select ntid, ord, name, mtime_secs, usn, config from templates "
                                "order by ntid, ord")
    d["config"] = _rows(col, "select KEY, usn, mtime_secs, val from config order by KEY")
    # human-readable views (make assertion diffs useful)
    d["deck_names"] = sorted(x.name for x in col.decks.all_names_and_ids())
    d["notetype_json"] = sorted((json.dumps(m, sort_keys=True) for m in col.models.all()))
    d["deck_config_json"] = sorted(json.dumps(c, sort_keys=True) for c in col.decks.all_config())
    d["config_json"] = json.dumps(col.all_config(), sort_keys=True)
    return d


def assert_same_collection(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a:
        if a[k] != b[k]:
            va, vb = a[k], b[k]
            if isinstance(va, list) and isinstance(vb, list):
                only_a = [x for x in va if x not in vb][:5]
                only_b = [x for x in vb if x not in va][:5]
                raise AssertionError(f"{k} differs (len {len(va)} vs {len(vb)}): "
                                     f"only in first {only_a!r}; only in second {only_b!r}")
            raise AssertionError(f"{k} differs: {va!r} != {vb!r}")


def collection_file_bytes(col_path: Path) -> bytes:
    return Path(col_path).read_bytes()
