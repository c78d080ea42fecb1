#!/usr/bin/env python3
"""Writes the committed seed corpus Fuzz/Corpus/<target>/ from the real client captures in
/work/shared/fixtures/captures (or $CAPTURES) and from a collection made by the real client.

Run with the project's .venv (it has `anki` and `zstandard`): .venv/bin/python Fuzz/make-seeds.py
Each seed is small; most targets read a first byte that chooses how the input is cut into reads.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import sqlite3
import struct
import sys
import tempfile
import zipfile
from pathlib import Path

import zstandard

HERE = Path(__file__).resolve().parent
CAPTURES = Path(os.environ.get("CAPTURES", "/work/shared/fixtures/captures"))
OUT = HERE / "Corpus"
BOUNDARY = b"Anki-sync-boundary"


def exchanges():
    for f in sorted(CAPTURES.glob("*.jsonl")):
        for line in f.read_text().splitlines():
            if line.strip():
                yield json.loads(line)


def json_bodies(limit=40):
    seen = []
    for x in exchanges():
        for key in ("req_body", "resp_body"):
            body = x.get(key)
            if isinstance(body, (dict, list)) and x.get(f"{key[:4]}_body_kind", "json") == "json":
                text = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
                if len(text) <= 4096 and text not in seen:
                    seen.append(text)
    seen.sort(key=len)
    step = max(1, len(seen) // limit)
    return seen[::step][:limit]


def heads(limit=30):
    out = []
    for x in exchanges():
        lines = [f"{x['method']} {x['path']} HTTP/1.1"] + [f"{k}: {v}" for k, v in x.get("req_headers", {}).items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if head not in out:
            out.append(head)
    return out[:limit]


def chunked(body: bytes, piece=100) -> bytes:
    out = b""
    for i in range(0, len(body), piece):
        part = body[i:i + piece]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def form(fields) -> bytes:
    out = b""
    for name, value in fields:
        out += b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + name + b'"\r\n\r\n' + value + b"\r\n"
    return out + b"--" + BOUNDARY + b"--\r\n"


def media_zip(entries, members, method=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
        z.writestr("_meta", json.dumps(entries))
    return buf.getvalue()


def proto_blobs():
    from anki.collection import Collection
    with tempfile.TemporaryDirectory() as d:
        col = Collection(os.path.join(d, "c.anki2"))
        col.close()
        db = sqlite3.connect(os.path.join(d, "c.anki2"))
        blobs = []
        for sql in ("select common from decks", "select kind from decks", "select config from deck_config",
                    "select config from notetypes", "select config from fields", "select config from templates"):
            blobs += [bytes(r[0]) for r in db.execute(sql) if r[0]]
        db.close()
    unique = sorted(set(blobs), key=len)
    return unique[:: max(1, len(unique) // 20)]


def channel_messages():
    v = 2
    u64 = lambda n: struct.pack(">Q", n)
    return [
        bytes([v, 2]) + u64(7) + b"POST /sync/meta HTTP/1.1\r\nhost: x\r\n\r\n",
        bytes([v, 3]) + u64(7) + b"GET /health HTTP/1.1\r\n\r\n",
        bytes([v, 4]) + u64(12) + b"\x01" + u64(1_764_000_000_000) + u64(1),
        bytes([v, 5]) + b"reload",
        bytes([v, 6]) + u64(3),
        bytes([v, 7]) + u64(9) + b'{"command":"snapshot","path":"/tmp/snap"}',
        bytes([v, 8]) + u64(9) + b'{"ok":true,"message":"done"}',
    ]


def main():
    seeds: dict[str, list[bytes]] = {}
    bodies = json_bodies()
    cctx = zstandard.ZstdCompressor(level=3)
    seeds["FuzzHTTPHead"] = heads()
    seeds["FuzzJSON"] = bodies
    seeds["FuzzBody"] = [bytes([0, 7]) + chunked(b) for b in bodies[:10]] + \
        [bytes([0, 3]) + b"5;ext=1\r\nhello\r\n0\r\ntrailer: x\r\n\r\n", bytes([15, 5]) + bodies[0][:49].ljust(49, b" ")]
    seeds["FuzzZstd"] = [bytes([i * 7 % 64]) + cctx.compress(b) for i, b in enumerate(bodies[:12])]
    seeds["FuzzGzip"] = [bytes([i * 5 % 64]) + gzip.compress(b, mtime=0) for i, b in enumerate(bodies[:8])]
    hostkey = form([(b"c", b"1"), (b"data", gzip.compress(b'{"u":"alice","p":"pw"}', mtime=0))])
    sync = form([(b"k", b"579e7fa764f43a98d0fa5a30dcd5401f868bbe6d"), (b"s", b"dKCD27"), (b"c", b"0"),
                 (b"data", b'{"minUsn":0,"lnewer":true}')])
    seeds["FuzzMultipart"] = [bytes([9]) + chunked(hostkey, 50), bytes([63]) + chunked(sync, 70)]
    seeds["FuzzZip"] = [
        media_zip([["a.jpg", "0"], ["b.txt", None]], {"0": b"\xff\xd8jpeg"}),
        media_zip([["café.mp3", "0"], ["x.txt", "1"]], {"0": b"a" * 300, "1": b"hello"}, zipfile.ZIP_DEFLATED),
        media_zip([], {}),
    ]
    seeds["FuzzMediaMeta"] = [json.dumps(e).encode() for e in (
        [["a.jpg", "0"], ["b.txt", None]], [["café.mp3", "0"], ["gone.png", ""]], [], [["日本語.png", "3"]])]
    seeds["FuzzProto"] = proto_blobs()
    seeds["FuzzChannel"] = channel_messages()
    for target, items in seeds.items():
        d = OUT / target
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        for data in items:
            (d / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)
        print(f"{target}: {len(items)} seeds, {sum(map(len, items))} bytes")


if __name__ == "__main__":
    sys.exit(main())
