"""Bodies the server must refuse with the same answers as the official server (issue 15
item 5): `abort` and `download` whose JSON is not an empty input, a full `upload` that is
not zstd. Run against both servers; our own per-method body cap is ours only."""
from __future__ import annotations

import pytest

from helpers import CORRUPT_TEXT, assert_plain_error, assert_serving, v11

USERS = ["alice:pw"]


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(USERS)


@pytest.mark.parametrize("method", ["abort", "download"])
@pytest.mark.parametrize("body", [b"{not json", b'{"unexpected": 1}', b""])
def test_invalid_empty_input_is_400(srv, method, body):
    r = v11(srv.port, method, body, srv.hkey("alice"))
    assert_plain_error(r, 400)
    assert_serving(srv, "alice")


@pytest.mark.parametrize("method", ["abort", "download"])
@pytest.mark.parametrize("body", [b"{}", b'{"_pad": null}', b"[]"])
def test_empty_inputs_are_accepted(srv, method, body):
    r = v11(srv.port, method, body, srv.hkey("alice"))
    assert r.status == 200, r
    if method == "abort":
        assert r.body == b"null"
    else:
        assert r.body.startswith(b"SQLite format 3\0")


def test_upload_that_is_not_zstd_is_400(srv):
    before = v11(srv.port, "download", {}, srv.hkey("alice")).body
    r = v11(srv.port, "upload", b"SQLite format 3\0 and then nothing useful" * 50, srv.hkey("alice"), compress=False)
    assert_plain_error(r, 400)
    assert v11(srv.port, "download", {}, srv.hkey("alice")).status == 200
    # the stored collection is the same file (download bumps only mod/usn, so compare the size)
    assert len(v11(srv.port, "download", {}, srv.hkey("alice")).body) == len(before)


def test_upload_of_garbage_in_zstd_is_corrupt(srv):
    r = v11(srv.port, "upload", b"\x07" * 10000, srv.hkey("alice"))
    assert r.status == 200, r
    assert r.text == CORRUPT_TEXT
    assert_serving(srv, "alice")


@pytest.mark.ours_only
@pytest.mark.parametrize("method", ["meta", "abort", "finish", "download"])
def test_small_methods_are_capped_at_64k(srv, method):
    """Our limit (README "Limits"): tiny methods are not buffered up to the payload limit."""
    r = v11(srv.port, method, {"v": 11, "cv": "x", "pad": "x" * 70000}, srv.hkey("alice"), "s1")
    assert_plain_error(r, 400)
    assert "65536 bytes" in r.text, r.text
    assert_serving(srv, "alice")
