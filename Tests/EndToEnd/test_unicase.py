"""Our `unicase` collation against the real client's.

The `anki` package registers Anki's own collation (Rust `unicase` 2.6.0 through rusqlite) on
`col.db`. We let it sort / compare large sets of strings and check that the worker binary's
hidden dev flags, which call `Storage.Unicase.compare`, agree:

    anki-sync-worker --unicase-sort      stdin lines -> lines sorted by unicase
    anki-sync-worker --unicase-compare   stdin lines "a<TAB>b" -> -1 / 0 / 1 per line

Binary: $ANKI_SYNC_WORKER_BIN, default <repo>/.build/debug/anki-sync-worker.
Run:    .venv/bin/python -m pytest Tests/EndToEnd/test_unicase.py
"""

import os
import random
import subprocess
import sys
import tempfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.environ.get("ANKI_SYNC_WORKER_BIN", os.path.join(REPO, ".build/debug/anki-sync-worker"))

# Characters the line-based CLI cannot carry (and NUL, which Anki's db bridge rejects).
FORBIDDEN = {"\n", "\r", "\t", "\x00"}


def usable(c):
    cp = ord(c)
    return c not in FORBIDDEN and not (0xD800 <= cp <= 0xDFFF)


# ---------------------------------------------------------------- fixtures and runners

@pytest.fixture(scope="module")
def db():
    from anki.collection import Collection

    d = tempfile.mkdtemp(prefix="unicase-")
    col = Collection(os.path.join(d, "collection.anki2"))
    try:
        yield col.db
    finally:
        col.close()


@pytest.fixture(scope="module")
def worker():
    if not os.access(WORKER, os.X_OK):
        pytest.fail("worker binary not found at %s (build it, or set ANKI_SYNC_WORKER_BIN)" % WORKER)
    return WORKER


def run_worker(worker, flag, lines):
    data = "".join(l + "\n" for l in lines).encode("utf-8")
    p = subprocess.run([worker, flag], input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    assert p.returncode == 0, p.stderr.decode("utf-8", "replace")
    out = p.stdout.decode("utf-8").split("\n")
    assert out[-1] == ""
    return out[:-1]


def ours_sort(worker, strings):
    return run_worker(worker, "--unicase-sort", strings)


def ours_compare(worker, pairs):
    out = run_worker(worker, "--unicase-compare", [a + "\t" + b for a, b in pairs])
    assert len(out) == len(pairs)
    return [int(x) for x in out]


def anki_sort(db, strings):
    db.execute("drop table if exists temp.uc_in")
    db.execute("drop table if exists temp.uc_sorted")
    db.execute("create temp table uc_in (x text not null)")
    db.executemany("insert into temp.uc_in (x) values (?)", [[s] for s in strings])
    db.execute("create temp table uc_sorted (k integer primary key, x text not null)")
    db.execute("insert into temp.uc_sorted (x) select x from temp.uc_in order by x collate unicase")
    return db.list("select x from temp.uc_sorted order by k")


def anki_adjacent_equal(db):
    """For the last anki_sort: whether row k equals row k-1 (k >= 2), by Anki's collation."""
    return db.list(
        "select a.x = b.x collate unicase from temp.uc_sorted a join temp.uc_sorted b on b.k = a.k - 1 "
        "order by a.k")


def anki_compare(db, pairs):
    db.execute("drop table if exists temp.uc_pairs")
    db.execute("create temp table uc_pairs (k integer primary key, a text not null, b text not null)")
    db.executemany("insert into temp.uc_pairs (a, b) values (?, ?)", [[a, b] for a, b in pairs])
    return db.list(
        "select case when a < b collate unicase then -1 when a = b collate unicase then 0 else 1 end "
        "from temp.uc_pairs order by k")


def runs(sorted_list, adjacent_equal):
    """Groups a sorted list into runs of equal elements; each run as a sorted list (the
    relative order of equal elements is legitimately arbitrary)."""
    assert len(adjacent_equal) == max(len(sorted_list) - 1, 0)
    out = []
    for i, s in enumerate(sorted_list):
        if i == 0 or not adjacent_equal[i - 1]:
            out.append([])
        out[-1].append(s)
    return [sorted(r) for r in out]


def describe(s):
    return "%r (%s)" % (s, " ".join("U+%04X" % ord(c) for c in s))


# ---------------------------------------------------------------- inputs

def folding_chars():
    """Every character that case-folds or changes case in this Python's Unicode (a superset of
    unicase 2.6.0's Unicode 12 table, so it includes the 13/14 additions that must NOT fold),
    the fold targets, and the neighbours of all of them."""
    base = set()
    for cp in range(0x110000):
        c = chr(cp)
        if not usable(c):
            continue
        if c.casefold() != c or c.lower() != c or c.upper() != c:
            base.add(c)
            base.update(c.casefold())
            base.update(c.lower())
            base.update(c.upper())
    out = set(base)
    for c in base:
        for d in (-1, 1):
            cp = ord(c) + d
            if 0 <= cp < 0x110000 and usable(chr(cp)):
                out.add(chr(cp))
    return sorted(out)


ASCII_PUNCT = [chr(c) for c in range(0x20, 0x7F)]
SPECIAL = ["ß", "ẞ", "ss", "SS", "ſ", "\u212a", "k", "\u2126", "ω", "ﬁ", "fi", "ﬃ", "ffi", "iff", "ﬄ",
           "İ", "i\u0307", "ı", "i", "I", "σ", "ς", "Σ", "\u13a0", "\uab70", "µ", "μ", "é", "e\u0301",
           "\u0390", "\u03b9\u0308\u0301", "\u0301\u03b9\u0308", "\u1fb7", "ǅ", "Ǆ", "ǆ", "_", "[", "`", "^",
           "\ufffd", "\U0001f600", "\U0010ffff", "\ua7c2", "\ua7c3", "\ua7c7", "\ua7f5", "\u2c2f", "\U00010570",
           "::", " ", "日本語"]


@pytest.fixture(scope="module")
def chars():
    return folding_chars()


def make_strings(chars, rng, n_random):
    strings = set()
    for c in chars:
        strings.update([c, c.casefold(), c.upper(), c.lower(), "a" + c, c + "a", "Z" + c, c + "_", c + c,
                        c + "ss", "ss" + c, c + "\u0301"])
    strings.update(SPECIAL)
    strings.update(ASCII_PUNCT)
    pool = chars + ASCII_PUNCT + SPECIAL
    for _ in range(n_random):
        k = rng.randint(1, 6)
        s = "".join(rng.choice(pool) for _ in range(k))
        strings.add(s)
        if rng.random() < 0.3:
            strings.add(s.upper())
            strings.add(s.casefold())
    return sorted(s for s in strings if s and all(usable(c) for c in s))


# ---------------------------------------------------------------- tests

def test_reference_is_unicase_260(db):
    """Facts about the reference itself that our implementation mirrors (§1.5)."""
    eq = lambda a, b: db.scalar("select ? = ? collate unicase", a, b)
    assert eq("ß", "ss") and eq("ẞ", "SS") and eq("\u212a", "k") and eq("σ", "ς")
    assert eq("\ua7c2", "\ua7c3")                 # Unicode 12
    assert not eq("\ua7c7", "\ua7c8")             # Unicode 13: not in the table
    assert not eq("\u2c2f", "\u2c5f")             # Unicode 14
    assert not eq("é", "e\u0301")                 # no normalisation
    # unicase 2.6.0 yields 3-scalar folds (a, b, c) as (c, a, b):
    assert eq("\ufb03", "iff") and not eq("\ufb03", "ffi")


def test_verified_examples(db, worker):
    order = ["[bracket", "^caret", "_under", "`tick", "apple", "Default", "ﬁ", "straße", "STRASSE2",
             "Zebra", "Äpfel", "ǅ"]
    shuffled = order[:]
    random.Random(1).shuffle(shuffled)
    assert anki_sort(db, shuffled) == order
    assert ours_sort(worker, shuffled) == order
    pairs = [("ß", "ss"), ("ss", "SS"), ("SS", "ẞ"), ("ſ", "s"), ("\u212a", "k"), ("\u2126", "ω"), ("ﬁ", "fi"),
             ("İ", "i\u0307"), ("σ", "ς"), ("\u13a0", "\uab70"), ("µ", "μ"), ("é", "e\u0301"), ("ı", "i"),
             ("_", "a"), ("ß", "ssa"), ("", "a")]
    assert ours_compare(worker, pairs) == anki_compare(db, pairs)


def test_sort_matches_anki(db, worker, chars):
    rng = random.Random(12)
    strings = make_strings(chars, rng, 20000)
    rng.shuffle(strings)
    theirs = anki_sort(db, strings)
    their_runs = runs(theirs, anki_adjacent_equal(db))
    mine = ours_sort(worker, strings)
    assert sorted(mine) == sorted(strings), "worker lost or changed lines"
    my_adjacent = ours_compare(worker, list(zip(mine, mine[1:])))
    assert all(c <= 0 for c in my_adjacent), "worker output not sorted by its own compare"
    my_runs = runs(mine, [c == 0 for c in my_adjacent])
    for i, (t, m) in enumerate(zip(their_runs, my_runs)):
        if t != m:
            pytest.fail("first difference at run %d: anki %s vs ours %s (previous run %s)"
                        % (i, [describe(s) for s in t], [describe(s) for s in m],
                           [describe(s) for s in their_runs[i - 1]] if i else None))
    assert len(their_runs) == len(my_runs)
    # The sets must exercise folding: many non-trivial equality classes.
    assert sum(1 for r in their_runs if len(r) > 1) > 1000
    print("sorted %d strings into %d equality classes; identical to anki" % (len(strings), len(their_runs)),
          file=sys.stderr)


def test_pairwise_compare_matches_anki(db, worker, chars):
    rng = random.Random(34)
    pairs = []
    for c in chars:
        cf, up, lo = c.casefold(), c.upper(), c.lower()
        nb = chr(ord(c) + 1) if usable(chr(ord(c) + 1)) else "a"
        pairs += [(c, cf), (cf, c), (c, up), (c, lo), (up, lo), (c, nb), (c + "a", cf + "b"), (c, cf + "a"),
                  (c + c, cf), (c, rng.choice(chars))]
    pool = chars + ASCII_PUNCT + SPECIAL
    for _ in range(20000):
        a = "".join(rng.choice(pool) for _ in range(rng.randint(0, 4)))
        b = a.casefold() if rng.random() < 0.3 else "".join(rng.choice(pool) for _ in range(rng.randint(0, 4)))
        pairs.append((a, b))
    for a in SPECIAL:
        for b in SPECIAL:
            pairs.append((a, b))
    pairs = [(a, b) for a, b in pairs if all(usable(ch) for ch in a + b)]
    theirs = anki_compare(db, pairs)
    mine = ours_compare(worker, pairs)
    bad = [(a, b, t, m) for (a, b), t, m in zip(pairs, theirs, mine) if t != m]
    assert not bad, "%d of %d pairs differ, e.g. %s" % (
        len(bad), len(pairs), [(describe(a), describe(b), "anki", t, "ours", m) for a, b, t, m in bad[:5]])
    assert theirs.count(0) > 2000
    print("compared %d pairs (%d equal); identical to anki" % (len(pairs), theirs.count(0)), file=sys.stderr)


def test_reference_treats_invalid_utf8_as_lossy_decoding(db):
    """rusqlite hands Anki's comparator String::from_utf8_lossy (each maximal invalid subpart
    becomes U+FFFD); Python's 'replace' error handler does the same. Our implementation follows
    that model (UnicaseTests.testInvalidUTF8BehavesLikeLossyDecoding); here we confirm the model
    against the reference, which the line-based CLI cannot carry."""
    samples = [b"\xff", b"\x80", b"\xc0\xaf", b"\xe2\x82", b"\xe2\x82A", b"\xe0\x80\x80", b"\xed\xa0\x80",
               b"\xf0\x9f\x98", b"\xf0\x9f\x98A", b"\xf4\x90\x80\x80", b"\xf5A", b"A\xc3", b"\xc3\x9f\xff",
               b"a\xffb", b"\xef\xbf\xbd", b"\xef\xbf\xbe", b"\xef\xbf\xbc", b"\xf0\x90\x80\x80", b"ss", b"SS"]
    rng = random.Random(56)
    interesting = [0x41, 0x61, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xC3, 0xDF, 0xE0, 0xED, 0xEF,
                   0xF0, 0xF4, 0xF5, 0xFF]
    for _ in range(300):
        samples.append(bytes(rng.choice(interesting) for _ in range(rng.randint(1, 5))))

    def model(a, b):
        fa = "".join(a.decode("utf-8", "replace").casefold())
        fb = "".join(b.decode("utf-8", "replace").casefold())
        # casefold() is only a stand-in for the fold here: the samples contain no character
        # whose fold differs between Unicode 12 and Python's Unicode, nor 3-scalar folds.
        return (fa > fb) - (fa < fb)

    mismatches = []
    for i in range(0, len(samples) - 1):
        a, b = samples[i], samples[i + 1]
        x, y = "cast(x'%s' as text)" % a.hex(), "cast(x'%s' as text)" % b.hex()
        got = db.scalar("select case when %s < %s collate unicase then -1 when %s = %s collate unicase then 0 "
                        "else 1 end" % (x, y, x, y))
        if got != model(a, b):
            mismatches.append((a, b, got, model(a, b)))
    assert not mismatches, mismatches[:5]
