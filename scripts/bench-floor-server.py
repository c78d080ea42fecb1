#!/usr/bin/env python3
"""A stand-in media server that does no server work, to measure what the Anki client alone takes.

    scripts/bench --floor --only media --media-small 40000 --media-large 0 --repeat 3

(`--floor` puts this script where our server would be, so the table reads floor/official.)

It speaks just enough of the protocol for `bench.py --only media`: `/sync/hostKey` (the users of
SYNC_USER1..N, plain passwords), `/msync/begin`, `mediaChanges`, `uploadChanges`, `downloadFiles`,
`mediaSanity`, and `GET /health`. Uploads stay in memory: nothing is written, flushed or checked;
an upload costs it one zstd decompression and one SHA-1 per file (mediaChanges must list one), a
download one stored zip and one zstd compression. Its CPU time is in the table's server CPU
column; the exchange is strictly request/answer, so the wall time minus that is what the client
alone takes — the floor below which no server can bring the row on this machine.

Not a server for anything else: no persistence, no limits, benchmark use only.
It binds SYNC_HOST:SYNC_PORT (127.0.0.1 in the bench).
"""
import bisect
import hashlib
import http.server
import io
import json
import os
import socket
import threading
import zipfile

import zstandard

USERS = {}
for i in range(1, 1000):
    value = os.environ.get(f"SYNC_USER{i}")
    if value is None:
        break
    user, _, password = value.partition(":")
    USERS[user] = password


class Store:
    """The media, in memory, one store for every account (the bench syncs one):
    name -> (usn, sha1 hex, bytes or None when deleted)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.files = {}
        self.usns, self.names = [], []      # one entry per change, in usn order
        self.usn = 0

    def apply(self, changes):
        with self.lock:
            for name, data in changes:
                self.usn += 1
                sha1 = hashlib.sha1(data).hexdigest() if data is not None else ""
                self.files[name] = (self.usn, sha1, data)
                self.usns.append(self.usn)
                self.names.append(name)
            return self.usn

    def changes_after(self, usn, limit=1000):
        with self.lock:
            out = []
            for at in range(bisect.bisect_right(self.usns, usn), len(self.usns)):
                change_usn, name = self.usns[at], self.names[at]
                current_usn, sha1, _ = self.files[name]
                if current_usn == change_usn:
                    out.append([name, change_usn, sha1])
                    if len(out) == limit:
                        break
            return out

    def live(self):
        with self.lock:
            return sum(1 for _, _, data in self.files.values() if data is not None)


STORE = Store()
DOWNLOAD_TARGET_BYTES = 2_621_440     # a download zip ends after the file that passes 2.5 MiB
DECOMPRESSOR = zstandard.ZstdDecompressor()
COMPRESSOR = zstandard.ZstdCompressor(level=1)
HOST_KEYS = {}


def stored_members(zip_bytes):
    """[(name, bytes or None)] of an upload zip, read in place: the client stores its members
    uncompressed, so each one is a slice of the body (no CRC pass, no copy)."""
    view = memoryview(zip_bytes)
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
        meta = json.loads(archive.read("_meta"))
        slices = {}
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                slices[info.filename] = archive.read(info)
                continue
            at = info.header_offset
            name_length = int.from_bytes(zip_bytes[at + 26:at + 28], "little")
            extra_length = int.from_bytes(zip_bytes[at + 28:at + 30], "little")
            start = at + 30 + name_length + extra_length
            slices[info.filename] = view[start:start + info.file_size]
    return [(name, slices[member] if member else None) for name, member in meta]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out as two writes: without this, Nagle's algorithm holds the body
        # until the client's delayed ACK, 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            pieces = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                pieces.append(self.rfile.read(size))
                self.rfile.readline()
            raw = b"".join(pieces)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        return DECOMPRESSOR.decompressobj().decompress(raw) if raw else b""

    def reply(self, payload, status=200):
        packed = COMPRESSOR.compress(payload)
        self.send_response(status)
        self.send_header("anki-original-size", str(len(payload)))
        self.send_header("Content-Length", str(len(packed)))
        self.end_headers()
        self.wfile.write(packed)

    def fail(self, status):
        text = str(status).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def do_GET(self):
        if self.path == "/health":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.fail(404)

    def do_POST(self):
        request = self.body()
        header = json.loads(self.headers.get("anki-sync", "{}"))
        if self.path == "/sync/hostKey":
            login = json.loads(request)
            if USERS.get(login.get("u")) != login.get("p"):
                return self.fail(403)
            key = hashlib.sha1(f"floor/{login['u']}".encode()).hexdigest()
            HOST_KEYS[key] = login["u"]
            return self.reply(json.dumps({"key": key}).encode())
        if header.get("k") not in HOST_KEYS:
            return self.fail(403)
        method = self.path.rsplit("/", 1)[-1]
        if method == "begin":
            data = {"usn": STORE.usn, "sk": header["k"]}
        elif method == "mediaChanges":
            data = STORE.changes_after(json.loads(request)["lastUsn"])
        elif method == "uploadChanges":
            changes = stored_members(request)
            data = [len(changes), STORE.apply(changes)]
        elif method == "downloadFiles":
            out = io.BytesIO()
            names = {}
            with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
                total = 0
                for i, name in enumerate(json.loads(request)["files"]):
                    data = STORE.files[name][2]
                    archive.writestr(str(i), data)
                    names[str(i)] = name
                    total += len(data)
                    if total > DOWNLOAD_TARGET_BYTES:
                        break
                archive.writestr("_meta", json.dumps(names))
            return self.reply(out.getvalue())
        elif method == "mediaSanity":
            data = "OK" if json.loads(request)["local"] == STORE.live() else "mediaSanity"
        else:
            return self.fail(404)
        self.reply(json.dumps({"data": data, "err": ""}).encode())


if __name__ == "__main__":
    address = (os.environ.get("SYNC_HOST", "127.0.0.1"), int(os.environ.get("SYNC_PORT", "8080")))
    http.server.ThreadingHTTPServer(address, Handler).serve_forever()
