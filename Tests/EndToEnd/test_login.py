"""Login (hostKey) with the real client: plain-text and hashed (PHC) passwords."""
from __future__ import annotations

import pytest
from anki.errors import SyncError, SyncErrorKind

from helpers import (assert_plain_error, assert_serving, make_phc, meta, sha1hex, v11)

PLAIN_USERS = [
    "alice:pw",
    "bob:secret2",
    "colon:pa:ss:word",       # password contains ':' (split at the first one)
    "Dave:upper",             # names differ only by case: two distinct users
    "dave:lower",
    "empty-ish: ",            # password is a single space
]


@pytest.fixture(scope="module")
def srv(make_module_server):
    return make_module_server(PLAIN_USERS)


def expect_auth_error(client, srv, user, password):
    with pytest.raises(SyncError) as ei:
        client.login(srv, user, password)
    assert ei.value.kind == SyncErrorKind.AUTH, f"{ei.value!r} kind={ei.value.kind}"


def test_right_password(srv, clients):
    c = clients("a")
    auth = c.login(srv, "alice", "pw")
    assert auth.hkey == sha1hex("alice:pw") == "579e7fa764f43a98d0fa5a30dcd5401f868bbe6d"
    assert c.required() == "NO_CHANGES"


def test_wrong_password(srv, clients):
    expect_auth_error(clients("a"), srv, "alice", "wrong")
    expect_auth_error(clients("b"), srv, "alice", "")
    expect_auth_error(clients("c"), srv, "alice", "pw ")


def test_unknown_user(srv, clients):
    expect_auth_error(clients("a"), srv, "mallory", "pw")
    expect_auth_error(clients("b"), srv, "", "pw")


def test_password_containing_colon(srv, clients):
    c = clients("a")
    auth = c.login(srv, "colon", "pa:ss:word")
    assert auth.hkey == sha1hex("colon:pa:ss:word")
    assert c.required() == "NO_CHANGES"
    expect_auth_error(clients("b"), srv, "colon", "pa")
    expect_auth_error(clients("c"), srv, "colon:pa", "ss:word")


def test_whitespace_password(srv, clients):
    auth = clients("a").login(srv, "empty-ish", " ")
    assert auth.hkey == sha1hex("empty-ish: ")
    expect_auth_error(clients("b"), srv, "empty-ish", "")


def test_names_are_case_sensitive(srv, clients):
    expect_auth_error(clients("a"), srv, "ALICE", "pw")
    expect_auth_error(clients("b"), srv, "Alice", "pw")
    up = clients("c").login(srv, "Dave", "upper")
    low = clients("d").login(srv, "dave", "lower")
    assert up.hkey == sha1hex("Dave:upper") and low.hkey == sha1hex("dave:lower")
    assert up.hkey != low.hkey
    expect_auth_error(clients("e"), srv, "Dave", "lower")
    expect_auth_error(clients("f"), srv, "dave", "upper")


def test_raw_hostkey_answers(srv):
    ok = v11(srv.port, "hostKey", {"u": "bob", "p": "secret2"})
    assert ok.status == 200, ok
    assert "anki-original-size" in ok.headers
    assert int(ok.headers["anki-original-size"]) == len(ok.body)
    assert ok.json() == {"key": sha1hex("bob:secret2")}
    for body in ({"u": "bob", "p": "nope"}, {"u": "nobody", "p": "secret2"}, {"u": "BOB", "p": "secret2"}):
        r = v11(srv.port, "hostKey", body)
        assert_plain_error(r, 403)
    assert_serving(srv, "bob")


def test_hkey_from_login_is_accepted_by_meta(srv):
    key = v11(srv.port, "hostKey", {"u": "colon", "p": "pa:ss:word"}).json()["key"]
    r = meta(srv.port, key)
    assert r.status == 200, r


def test_gap_in_user_numbering_ends_the_list(make_server, clients):
    srv = make_server([], env={"SYNC_USER1": "one:1", "SYNC_USER2": "two:2", "SYNC_USER4": "four:4"})
    assert clients("a").login(srv, "two", "2").hkey == sha1hex("two:2")
    expect_auth_error(clients("b"), srv, "four", "4")


# ---------------------------------------------------------------- hashed mode

@pytest.fixture(scope="module")
def hashed(make_module_server):
    phc = {
        "h256": make_phc("pw256", "sha256", 1000),
        "h512": make_phc("pw512", "sha512", 1000),
        "hcolon": make_phc("a:b:c", "sha256", 1200, length=24),
    }
    users = [f"{u}:{p}" for u, p in phc.items()]
    srv = make_module_server(users, env={"PASSWORDS_HASHED": "1"})
    srv.phc = phc
    return srv


@pytest.mark.parametrize("user,password", [("h256", "pw256"), ("h512", "pw512"), ("hcolon", "a:b:c")])
def test_hashed_password_accepted(hashed, clients, user, password):
    c = clients("a")
    auth = c.login(hashed, user, password)
    # hkey = sha1("<user>:<configured value>"), i.e. of the PHC string itself
    assert auth.hkey == sha1hex(f"{user}:{hashed.phc[user]}")
    assert c.required() == "NO_CHANGES"


@pytest.mark.parametrize("user", ["h256", "h512"])
def test_hashed_phc_string_as_password_refused(hashed, clients, user):
    expect_auth_error(clients("a"), hashed, user, hashed.phc[user])


def test_hashed_wrong_password_refused(hashed, clients):
    expect_auth_error(clients("a"), hashed, "h256", "pw512")
    expect_auth_error(clients("b"), hashed, "h512", "pw256")
    expect_auth_error(clients("c"), hashed, "nobody", "pw256")
    assert_serving(hashed, "h256")
