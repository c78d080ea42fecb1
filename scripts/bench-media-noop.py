#!/usr/bin/env python3
"""No-op media sync with a large library, this server against the official one (real client).

    .venv/bin/python scripts/bench-media-noop.py [--files 40000] [--repeat 20] [--server CMD ...]

For each server (default: the official one, then .build/release/anki-sync-server): start it on
127.0.0.1 with an empty data folder, upload --files media files of ~20 KB from client A (untimed),
download them to client B (untimed), then time --repeat media syncs of B with nothing to do.
Prints the median and range in ms per server. Bounded: every wait has a limit, the servers are
stopped (process group) and their folders removed at the end.
"""
import argparse, os, random, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, urllib.request
from anki.collection import Collection

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def media_sync(col, auth, limit_s=1800):
    col.sync_media(auth)
    deadline = time.monotonic() + limit_s
    while col.media_sync_status().active:            # raises if the sync failed
        if time.monotonic() > deadline:
            raise TimeoutError("media sync did not finish")
        time.sleep(0.002)


def run(cmd, files, repeat, work):
    base, port = tempfile.mkdtemp(dir=work), free_port()
    env = dict(os.environ, SYNC_HOST="127.0.0.1", SYNC_PORT=str(port), SYNC_BASE=base, SYNC_USER1="u:p")
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}/"
        for _ in range(600):
            try:
                urllib.request.urlopen(url + "health", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        cols = []
        for name in ("a", "b"):
            os.makedirs(os.path.join(work, name + str(port)))
            cols.append(Collection(os.path.join(work, name + str(port), "collection.anki2")))
        a, b = cols
        auth_a, auth_b = a.sync_login("u", "p", url), b.sync_login("u", "p", url)
        rng = random.Random(1)
        for i in range(files):
            a.media.write_data(f"bench_{i:05d}.jpg", rng.randbytes(rng.randint(10240, 30720)))
        media_sync(a, auth_a)
        media_sync(b, auth_b)
        assert len(os.listdir(b.media.dir())) == files, "download incomplete"
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            media_sync(b, auth_b)
            times.append((time.perf_counter() - t) * 1000)
        for c in cols:
            c.close()
        return times
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        shutil.rmtree(base, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=40000)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--server", action="append",
                    help="launch command (repeatable); default: official, then our release build")
    args = ap.parse_args()
    servers = args.server or [f"{sys.executable} -m anki.syncserver", f"{REPO}/.build/release/anki-sync-server"]
    work = tempfile.mkdtemp(prefix="media-noop-")
    try:
        for cmd in servers:
            t = run(cmd.split(), args.files, args.repeat, work)
            print(f"{cmd}: no-op media sync with {args.files} files: median {statistics.median(t):.1f} ms "
                  f"[{min(t):.1f}-{max(t):.1f}] over {len(t)}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
