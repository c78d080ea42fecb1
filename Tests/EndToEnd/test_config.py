"""Start-up configuration: refusal of bad configurations (exit 2, one stderr line
naming the variable) and `--healthcheck`."""
from __future__ import annotations

import subprocess

import pytest

from helpers import base_env, free_port, make_phc, run_server_expect_exit, server_command, HOST

pytestmark = pytest.mark.ours_only

GOOD = {"SYNC_USER1": "alice:pw"}
PHC = make_phc("pw", "sha256", 1000)

BAD = [
    # (id, environment overrides, variable that must be named)
    ("no-users", {"SYNC_USER1": None}, "SYNC_USER1"),
    ("only-user2", {"SYNC_USER1": None, "SYNC_USER2": "bob:pw"}, "SYNC_USER1"),
    ("no-colon", {"SYNC_USER1": "alice"}, "SYNC_USER1"),
    ("no-colon-2nd", {"SYNC_USER2": "bob"}, "SYNC_USER2"),
    ("empty-name", {"SYNC_USER1": ":pw"}, "SYNC_USER1"),
    ("duplicate", {"SYNC_USER2": "alice:other"}, "SYNC_USER2"),
    ("slash", {"SYNC_USER1": "a/b:pw"}, "SYNC_USER1"),
    ("backslash", {"SYNC_USER1": "a\\b:pw"}, "SYNC_USER1"),
    ("dot", {"SYNC_USER1": ".:pw"}, "SYNC_USER1"),
    ("dotdot", {"SYNC_USER1": "..:pw"}, "SYNC_USER1"),
    ("leading-dot", {"SYNC_USER1": ".hidden:pw"}, "SYNC_USER1"),
    ("phc-not-phc", {"PASSWORDS_HASHED": "1", "SYNC_USER1": "alice:plainpassword"}, "SYNC_USER1"),
    ("phc-missing-hash", {"PASSWORDS_HASHED": "1",
                          "SYNC_USER1": "alice:" + PHC.rsplit("$", 1)[0]}, "SYNC_USER1"),
    ("phc-bad-alg", {"PASSWORDS_HASHED": "1",
                     "SYNC_USER1": "alice:" + PHC.replace("pbkdf2-sha256", "pbkdf2-md5")}, "SYNC_USER1"),
    ("phc-bad-rounds", {"PASSWORDS_HASHED": "1",
                        "SYNC_USER1": "alice:" + PHC.replace("i=1000", "i=abc")}, "SYNC_USER1"),
    ("phc-bad-b64", {"PASSWORDS_HASHED": "1",
                     "SYNC_USER1": "alice:$pbkdf2-sha256$i=1000,l=32$!!!!$????"}, "SYNC_USER1"),
    ("phc-2nd-user", {"PASSWORDS_HASHED": "1", "SYNC_USER1": "alice:" + PHC,
                      "SYNC_USER2": "bob:garbage"}, "SYNC_USER2"),
    ("port-text", {"SYNC_PORT": "http"}, "SYNC_PORT"),
    ("port-zero", {"SYNC_PORT": "0"}, "SYNC_PORT"),
    ("port-big", {"SYNC_PORT": "65536"}, "SYNC_PORT"),
    ("port-negative", {"SYNC_PORT": "-1"}, "SYNC_PORT"),
    ("megs-text", {"MAX_SYNC_PAYLOAD_MEGS": "lots"}, "MAX_SYNC_PAYLOAD_MEGS"),
    ("megs-zero", {"MAX_SYNC_PAYLOAD_MEGS": "0"}, "MAX_SYNC_PAYLOAD_MEGS"),
    ("megs-negative", {"MAX_SYNC_PAYLOAD_MEGS": "-5"}, "MAX_SYNC_PAYLOAD_MEGS"),
    ("megs-huge", {"MAX_SYNC_PAYLOAD_MEGS": "99999999999999999999"}, "MAX_SYNC_PAYLOAD_MEGS"),
]


@pytest.mark.parametrize("env,var", [(e, v) for _, e, v in BAD], ids=[i for i, _, _ in BAD])
def test_startup_refuses_bad_configuration(tmp_path, env, var):
    cfg = dict(GOOD)
    cfg.update(env)
    base = tmp_path / "base"
    res = run_server_expect_exit(cfg, base)
    assert res.returncode is not None, f"server kept running with a bad {var}; stderr: {res.stderr!r}"
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert var in lines[0], f"stderr does not name {var}: {lines[0]!r}"


def test_good_configuration_with_hashed_password_starts(make_server):
    make_server(["alice:" + PHC, "bob:" + make_phc("x", "sha512", 1000)],
                env={"PASSWORDS_HASHED": "1"})


def healthcheck(port: int, extra: dict | None = None) -> subprocess.CompletedProcess:
    env = base_env({"SYNC_USER1": "alice:pw", "SYNC_HOST": HOST, "SYNC_PORT": str(port)})
    env.update(extra or {})
    return subprocess.run(server_command() + ["--healthcheck"], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=30)


def test_healthcheck_ok_when_server_answers(make_server):
    s = make_server(["alice:pw"])
    r = healthcheck(s.port, {"SYNC_BASE": str(s.base)})
    assert r.returncode == 0, r
    # the check is no request for user data: no worker was started
    assert s.workers() == {}


def test_healthcheck_fails_when_nothing_listens(tmp_path):
    r = healthcheck(free_port(), {"SYNC_BASE": str(tmp_path / "base")})
    assert r.returncode == 1, r


def test_healthcheck_fails_after_server_stopped(make_server):
    s = make_server(["alice:pw"])
    port = s.port
    s.stop()
    r = healthcheck(port, {"SYNC_BASE": str(s.base)})
    assert r.returncode == 1, r
