"""The measuring half of scripts/bench-metrics (see there): a 10,000-note normal sync (push) with
the real Anki client, quietly and while another process scrapes /metrics 100 times a second.

Usage: bench_metrics.py SERVER_BIN REPEAT TESTS_END_TO_END_DIR. The scraper is a spawned process
(not forked: a forked copy of this process, which holds the client's collection, would turn every
page written afterwards into a copy-on-write fault and slow the client), so this module must be
importable without running the benchmark."""
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_common import alternating, uploaded_client


def scrape_forever(e2e: str, port: int, stop, counter):
    """100 scrapes a second, each on its own connection, as Prometheus would (only more often)."""
    sys.path.insert(0, e2e)
    import helpers
    next_at = time.monotonic()
    while not stop.is_set():
        with helpers.RawConn(port) as c:
            assert c.request(helpers.http_request("GET", "/metrics", port=port)).status == 200
        with counter.get_lock():
            counter.value += 1
        next_at += 0.01
        time.sleep(max(0.0, next_at - time.monotonic()))


def main(bin_path: str, repeat: int, e2e: str):
    sys.path.insert(0, e2e)
    os.environ["ANKI_SYNC_SERVER_BIN"] = bin_path
    import helpers
    spawn = multiprocessing.get_context("spawn")
    port = helpers.free_port()
    root = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    srv = helpers.Server(root / "base", ["alice:pa"], {"SYNC_METRICS_ADDR": f"127.0.0.1:{port}"}, log_dir=root).start()

    def push_10k(client) -> float:
        helpers.add_basic_notes(client.col, 10_000, notetype="Basic")
        t0 = time.perf_counter()
        assert client.required() in ("NO_CHANGES", "NORMAL_SYNC")
        return time.perf_counter() - t0

    rates = []

    def scraped_push(client) -> float:
        stop, counter = spawn.Event(), spawn.Value("i", 0)
        p = spawn.Process(target=scrape_forever, args=(e2e, port, stop, counter), daemon=True)
        p.start()
        helpers.wait_until(lambda: counter.value >= 20, timeout=30, msg="the scraper runs")
        start_count, t0 = counter.value, time.perf_counter()
        try:
            return push_10k(client)
        finally:
            rates.append((counter.value - start_count) / (time.perf_counter() - t0))
            stop.set()
            p.join()

    try:
        alice = uploaded_client(helpers, root, srv, "alice")
        quiet, scraped = alternating(repeat, lambda: push_10k(alice), lambda: scraped_push(alice))
        q, s = statistics.median(quiet), statistics.median(scraped)
        print(f"server: {bin_path}  repeat: {repeat}  scrapes/s during the syncs (median): {statistics.median(rates):.0f}")
        print()
        print("| scenario | quiet (median s) | scraped 100/s (median s) | ratio | target |")
        print("|---|---|---|---|---|")
        print(f"| 10,000-note normal sync (push) | {q:.3f} | {s:.3f} | {s / q:.3f}x | < 1.05x |")
    finally:
        srv.stop()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
