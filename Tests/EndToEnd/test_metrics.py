"""Metrics and device activity (issue 19): /metrics in the Prometheus text format on its own
listener, the example alert rules and dashboard, and the per-device list in `status`."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import helpers
from helpers import RawConn, http_request, v11

pytestmark = pytest.mark.ours_only

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "anki-sync-server.rules.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "anki-sync-server.json"


def scrape(port: int) -> str:
    with RawConn(port) as c:
        r = c.request(http_request("GET", "/metrics", port=port))
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return r.body.decode()


def samples(text: str) -> dict[str, float]:
    """{'name{labels}': value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def families(text: str) -> set[str]:
    return {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}


def status(srv) -> dict:
    r = subprocess.run([str(helpers.ours_bin()), "status", "--json"], env=srv.env(), capture_output=True, text=True,
                       timeout=30, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def promtool() -> str:
    tool = shutil.which("promtool")
    assert tool, "promtool missing: scripts/test installs Debian's prometheus package"
    return tool


@pytest.fixture
def metrics_server(make_server):
    port = helpers.free_port()
    srv = make_server(["alice:pa", "bob:pb"], env={"SYNC_METRICS_ADDR": f"127.0.0.1:{port}"})
    srv.metrics_port = port
    return srv


def test_metrics_after_real_syncs(metrics_server, clients):
    srv = metrics_server
    alice = clients("alice")
    alice.login(srv, "alice")
    helpers.add_basic_notes(alice.col, 10, notetype="Basic")
    assert alice.required() in ("FULL_UPLOAD", "FULL_SYNC")
    alice.upload()
    helpers.add_basic_notes(alice.col, 3, notetype="Basic")
    assert alice.required() in ("NO_CHANGES", "NORMAL_SYNC")
    (Path(alice.col.media.dir()) / "picture.jpg").write_bytes(b"\xff\xd8 not really a jpeg " * 50)
    from test_media import media_sync
    media_sync(alice)
    assert helpers.v11(srv.port, "hostKey", {"u": "bob", "p": "wrong"}).status == 403

    # A worker reports the requests of a connection it keeps when the connection goes back.
    def reported() -> bool:
        s = samples(scrape(srv.metrics_port))
        return (s.get('anki_sync_media_files_total{direction="upload"}', 0) >= 1
                and s.get('anki_sync_requests_total{method="finish",status="200"}', 0) >= 1)
    helpers.wait_until(reported, msg="the requests of held connections reported")
    text = scrape(srv.metrics_port)
    s = samples(text)
    assert s['anki_sync_requests_total{method="finish",status="200"}'] >= 1
    assert s['anki_sync_requests_total{method="upload",status="200"}'] == 1
    assert s['anki_sync_requests_total{method="hostKey",status="403"}'] == 1
    assert s['anki_sync_full_syncs_total{direction="upload"}'] == 1
    assert s['anki_sync_media_files_total{direction="upload"}'] >= 1
    assert s['anki_sync_login_failures_total{reason="rejected"}'] == 1
    assert s['anki_sync_request_duration_seconds_count{method="applyChanges"}'] >= 1
    assert s['anki_sync_request_bytes_total{direction="in"}'] > 0
    assert s['anki_sync_worker_events_total{user="alice",event="spawn"}'] >= 1
    assert s['anki_sync_user_last_sync_timestamp_seconds{user="alice"}'] > 0
    assert s['anki_sync_user_collection_bytes{user="alice"}'] > 0
    assert s['anki_sync_user_media_files{user="alice"}'] == 1
    assert s['anki_sync_worker_up{user="alice"}'] == 1 and s['anki_sync_worker_up{user="bob"}'] == 0
    assert any(k.startswith("anki_sync_build_info{") for k in s)
    assert 'anki_sync_connections_limit' in s
    # promtool accepts the exposition as it is.
    r = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # Never on the sync port: user names are not shown to the internet.
    with RawConn(srv.port) as c:
        assert c.request(http_request("GET", "/metrics", port=srv.port)).status == 404
    # Client text never becomes a label.
    v11(srv.port, "meta", {"v": 11, "cv": "x"}, srv.hkey("alice"), "s1", header=helpers.sync_header(
        srv.hkey("alice"), "s1", client='evil"}\nanki_sync_fake 1'))
    after = scrape(srv.metrics_port)
    assert "anki_sync_fake" not in after and "evil" not in after


def test_metrics_listener_is_off_by_default_and_answers_only_metrics(make_server, metrics_server):
    srv = make_server(["alice:pa"])
    assert "metrics=off" in srv.log_tail(50)
    with RawConn(metrics_server.metrics_port) as c:
        assert c.request(http_request("GET", "/", port=metrics_server.metrics_port)).status == 404


def test_alert_rules_and_dashboard_use_only_exported_metrics(metrics_server):
    r = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    exported = families(scrape(metrics_server.metrics_port))
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set()
    for text in exprs + [RULES.read_text()]:
        for name in re.findall(r"\banki_sync_[a-z_]+", text):
            used.add(re.sub(r"_(bucket|sum|count)$", "", name) if name.startswith("anki_sync_request_duration") else name)
    assert used, "no metric names found"
    assert used <= exported, f"not exported: {sorted(used - exported)}"


def test_status_lists_devices_and_keeps_them_across_a_restart(make_server, clients):
    srv = make_server(["alice:pa"])
    desktop = clients("alice-desktop")
    desktop.login(srv, "alice")
    helpers.add_basic_notes(desktop.col, 5, notetype="Basic")
    assert desktop.required() in ("FULL_UPLOAD", "FULL_SYNC")
    desktop.upload()
    # A second device with another client (AnkiDroid's version string), downloading the collection.
    phone = "2.19.1,4a5b6c7,android:34:Pixel"
    key = srv.hkey("alice")
    assert v11(srv.port, "meta", {"v": 11, "cv": phone}, key, "p1",
               header=helpers.sync_header(key, "p1", client=phone)).status == 200
    r = v11(srv.port, "download", {"_pad": None}, key, "p1", header=helpers.sync_header(key, "p1", client=phone))
    assert r.status == 200

    def devices() -> dict[str, dict]:
        users = {u["user"]: u for u in status(srv)["users"]}
        return {d["client"]: d for d in users["alice"].get("devices") or []}

    helpers.wait_until(lambda: len(devices()) == 2, msg="both devices listed")
    d = devices()
    assert d[phone]["last_outcome"] == "full download"
    desktop_entry = next(v for k, v in d.items() if k != phone)
    assert desktop_entry["last_outcome"] in ("full upload", "normal")
    assert desktop_entry["address"] == "127.0.0.1"
    text = subprocess.run([str(helpers.ours_bin()), "status"], env=srv.env(), capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL).stdout
    assert phone in text
    srv.restart()
    assert devices() == d, "the list survives a restart"
