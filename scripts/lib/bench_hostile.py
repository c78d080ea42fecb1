"""The measuring half of scripts/bench-hostile (see there).

Usage: bench_hostile.py SERVER_BIN REPEAT TESTS_END_TO_END_DIR. The password flood runs in spawned
processes (the attacker is another program; a forked copy of this process, which holds the
client's collection, would slow the client by copy-on-write faults), so this module must be
importable without running the benchmark."""
import multiprocessing
import os
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench_common import alternating, uploaded_client


def raw(helpers, port: int, source: str):
    c = helpers.RawConn.__new__(helpers.RawConn)
    c.sock, c.buf = socket.create_connection((helpers.HOST, port), source_address=(source, 0)), b""
    return c


def wrong_logins(e2e: str, port: int, stop):
    sys.path.insert(0, e2e)
    import helpers
    while not stop.is_set():
        try:
            with raw(helpers, port, "127.0.0.9") as c:
                c.request(helpers.v11_request("hostKey", {"u": "alice", "p": "wrong"}, port=port))
        except OSError:
            pass


class Flood:
    """1,000 connections that never send a byte and 200 that send a header byte every 3 s."""

    def __init__(self, helpers, port: int):
        self.helpers, self.port = helpers, port
        self.stop = threading.Event()
        self.idle = [socket.create_connection((helpers.HOST, port)) for _ in range(1000)]
        self.slow = [self.slowloris() for _ in range(200)]
        self.thread = threading.Thread(target=self.trickle, daemon=True)
        self.thread.start()

    def slowloris(self):
        s = socket.create_connection((self.helpers.HOST, self.port))
        s.sendall(b"POST /sync/meta HTTP/1.1\r\n")
        return s

    def trickle(self):
        while not self.stop.wait(3):
            for i, s in enumerate(self.slow):
                try:
                    s.sendall(b"x")
                except OSError:
                    s.close()
                    self.slow[i] = self.slowloris()

    def close(self):
        self.stop.set()
        self.thread.join()
        for s in self.idle + self.slow:
            s.close()


def main(bin_path: str, repeat: int, e2e: str):
    sys.path.insert(0, e2e)
    os.environ["ANKI_SYNC_SERVER_BIN"] = bin_path
    import helpers
    spawn = multiprocessing.get_context("spawn")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(8192, hard), hard))
    root = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    srv = helpers.Server(root / "base", ["alice:pa", "bob:pb"], None, log_dir=root).start()

    def push_1000(client) -> float:
        helpers.add_basic_notes(client.col, 1000, notetype="Basic")
        t0 = time.perf_counter()
        assert client.required() in ("NO_CHANGES", "NORMAL_SYNC")
        return time.perf_counter() - t0

    def flooded_push(client) -> float:
        flood = Flood(helpers, srv.port)
        try:
            return push_1000(client)
        finally:
            flood.close()

    def login_rate(seconds: float) -> float:
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            with raw(helpers, srv.port, "127.0.0.1") as c:
                r = c.request(helpers.v11_request("hostKey", {"u": "bob", "p": "pb"}, port=srv.port))
            assert r.status == 200, r
            n += 1
        return n / (time.perf_counter() - t0)

    try:
        bob = uploaded_client(helpers, root, srv, "bob")
        quiet, flooded = alternating(repeat, lambda: push_1000(bob), lambda: flooded_push(bob))
        q, f = statistics.median(quiet), statistics.median(flooded)
        rates_quiet, rates_flood = [], []
        for _ in range(max(1, repeat // 2)):
            rates_quiet.append(login_rate(5))
            stop = spawn.Event()
            attackers = [spawn.Process(target=wrong_logins, args=(e2e, srv.port, stop), daemon=True) for _ in range(4)]
            for a in attackers:
                a.start()
            try:
                rates_flood.append(login_rate(5))
            finally:
                stop.set()
                for a in attackers:
                    a.join()
        rq, rf = statistics.median(rates_quiet), statistics.median(rates_flood)
        print(f"server: {bin_path}  repeat: {repeat}")
        print()
        print("| scenario | quiet | under attack | ratio | target |")
        print("|---|---|---|---|---|")
        print(f"| bob's 1,000-note push, 1,000 idle + 200 slowloris open (median s) | {q:.3f} | {f:.3f} | {f / q:.2f}x | <= 1.2x |")
        print(f"| correct logins/s, wrong-password flood from another address | {rq:.2f} | {rf:.2f} | {100 * rf / rq:.0f} % | >= 80 % |")
    finally:
        srv.stop()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
