#!/usr/bin/env python3
"""Generate Sources/Storage/Unicase/UnicaseFoldTable.swift from the Rust crate
`unicase` 2.6.0 (the exact version Anki pins for its `unicase` SQLite collation).

Input: the crate's generated fold map, `src/unicode/map.rs` at tag v2.6.0
(commit 7b116bc70c16b972a06c2e084ad1e9f3edfbaa2f). Get it with, e.g.

    git --git-dir=<unicase mirror> show v2.6.0:src/unicode/map.rs > /tmp/unicase-2.6.0-map.rs
    python3 scripts/gen-unicase-table.py /tmp/unicase-2.6.0-map.rs

Options:
    --out PATH   where to write (default: Sources/Storage/Unicase/UnicaseFoldTable.swift
                 next to this script's repository)
    --check      do not write; exit 1 if the committed file differs from what would be generated

Only the crate's DATA is used (the fold mappings); no crate code is carried over.
The input's SHA-256 is verified against the pinned value below, because any change
to the table changes the collation, and with it the order of existing SQLite indexes.

What is extracted, and how:
  * map.rs holds two encodings of the same map: the range-compressed `lookup()`
    and a flat `lookup_naive()` used by the crate's own consistency test. Both are
    parsed; `lookup()` is interpreted for every Unicode scalar and must agree with
    `lookup_naive()` everywhere, else generation fails.
  * The crate yields a 3-scalar fold `Fold::Three(a, b, c)` in the order c, a, b
    (its `Iterator for Fold` returns the third element first). The collation compares
    the yielded sequences, so Anki sees e.g. U+FB03 (ffi ligature) as "iff", not "ffi"
    (checked against the real client: 'ﬃ' = 'iff' collate unicase). The table therefore
    stores the EFFECTIVE (yielded) order. 2-scalar folds are yielded in order.
"""

import argparse
import hashlib
import os
import re
import sys

CRATE = "unicase"
CRATE_VERSION = "2.6.0"
CRATE_COMMIT = "7b116bc70c16b972a06c2e084ad1e9f3edfbaa2f"
SOURCE_PATH = "src/unicode/map.rs"
SOURCE_SHA256 = "3679235bfd5ff68b0a0040bfe687fda231b1934762158bc52e6b58e2a1fcc6cb"

BLOCK_SHIFT = 6  # two-level table: 64 scalars per block
MAX_SCALAR = 0x10FFFF


def fail(msg):
    sys.stderr.write("gen-unicase-table: " + msg + "\n")
    sys.exit(1)


# ---------------------------------------------------------------- parsing map.rs

CHAR_RE = r"'\\u\{([0-9a-fA-F]+)\}'"
FOLD_RE = re.compile(r"^return Fold::(Two|Three)\((" + CHAR_RE + r"(?:,\s*" + CHAR_RE + r")*),?\)$")
ARM_RE = re.compile(r"^(?P<pat>.+?)\s*=>\s*(?P<expr>.+?),?$")


def parse_fold(expr):
    m = FOLD_RE.match(expr)
    if not m:
        return None
    chars = tuple(int(h, 16) for h in re.findall(r"\\u\{([0-9a-fA-F]+)\}", m.group(2)))
    want = {"Two": 2, "Three": 3}[m.group(1)]
    if len(chars) != want:
        fail("bad fold arity in: " + expr)
    return chars


def parse_pattern(pat):
    """Returns a predicate on x (None for the wildcard `_`)."""
    pat = pat.strip()
    if pat == "_":
        return lambda x: True
    m = re.fullmatch(r"0x([0-9a-fA-F]+)", pat)
    if m:
        v = int(m.group(1), 16)
        return lambda x, v=v: x == v
    m = re.fullmatch(r"x @ _ if 0x([0-9a-fA-F]+) <= x && x <= 0x([0-9a-fA-F]+)", pat)
    if m:
        lo, hi = int(m.group(1), 16), int(m.group(2), 16)
        return lambda x, lo=lo, hi=hi: lo <= x <= hi
    m = re.fullmatch(r"x @ _ if x <= 0x([0-9a-fA-F]+)", pat)
    if m:
        hi = int(m.group(1), 16)
        return lambda x, hi=hi: x <= hi
    m = re.fullmatch(r"x @ _ if 0x([0-9a-fA-F]+) <= x", pat)
    if m:
        lo = int(m.group(1), 16)
        return lambda x, lo=lo: lo <= x
    fail("unknown pattern: " + pat)


def parse_expr(expr, bits):
    """Returns f(from) -> int (single scalar, wrapped to `bits`) or a tuple (multi fold)."""
    mask = (1 << bits) - 1
    expr = expr.strip()
    fold = parse_fold(expr)
    if fold is not None:
        return lambda f, fold=fold: fold
    if expr == "from":
        return lambda f: f
    m = re.fullmatch(r"0x([0-9a-fA-F]+)", expr)
    if m:
        v = int(m.group(1), 16)
        return lambda f, v=v: v
    m = re.fullmatch(r"from\.wrapping_add\(0x([0-9a-fA-F]+)\)", expr)
    if m:
        d = int(m.group(1), 16)
        return lambda f, d=d: (f + d) & mask
    m = re.fullmatch(r"from\.wrapping_sub\(0x([0-9a-fA-F]+)\)", expr)
    if m:
        d = int(m.group(1), 16)
        return lambda f, d=d: (f - d) & mask
    if expr == "(from | 1)":
        return lambda f: f | 1
    if expr == "((from+1) & !1)":
        return lambda f: ((f + 1) & mask) & (mask ^ 1)
    m = re.fullmatch(r"if \(from & 1\) == 1 \{ from\.wrapping_sub\(0x([0-9a-fA-F]+)\) \} else \{ from \}", expr)
    if m:
        d = int(m.group(1), 16)
        return lambda f, d=d: ((f - d) & mask) if (f & 1) == 1 else f
    fail("unknown expression: " + expr)


def parse_arm(line, bits):
    m = ARM_RE.match(line)
    if not m:
        fail("cannot parse arm: " + line)
    return parse_pattern(m.group("pat")), parse_expr(m.group("expr"), bits)


def parse_lookup(text):
    """Parses the range-compressed `pub fn lookup`. Returns (split, high_arms, big_arms):
    split: scalars <= split use the high-byte jump table (u16 arithmetic);
    high_arms: list of (predicate on high byte, None | list of low-byte arms);
    big_arms: arms on the whole scalar (u32 arithmetic) for scalars > split."""
    start = text.index("pub fn lookup(orig: char) -> Fold {")
    end = text.index("#[test]", start)
    lines = [l.strip() for l in text[start:end].splitlines()]
    lines = [l for l in lines if l and not l.startswith("//")]
    i = 0

    def expect(pred, what):
        nonlocal i
        if not pred(lines[i]):
            fail("expected %s at: %r" % (what, lines[i]))
        i += 1

    while not lines[i].startswith("if from <= 0x"):
        i += 1
    split = int(re.fullmatch(r"if from <= 0x([0-9a-fA-F]+) \{", lines[i]).group(1), 16)
    i += 1
    while lines[i] != "let single_char: u16 = match high_byte {":
        i += 1
    i += 1
    high_arms = []
    while True:
        line = lines[i]
        if re.fullmatch(r"_ => from", line):
            i += 1
            break
        m = re.fullmatch(r"0x([0-9a-fA-F]+) => \{", line)
        if not m:
            fail("expected a high-byte arm at: %r" % line)
        hb = int(m.group(1), 16)
        i += 1
        if lines[i] == "from":
            high_arms.append((hb, None))
            i += 1
        else:
            expect(lambda l: l == "match low_byte {", "match low_byte")
            arms = []
            while not re.fullmatch(r"_ => from", lines[i]):
                arms.append(parse_arm(lines[i], 16))
                i += 1
            i += 1
            expect(lambda l: l == "}", "end of low-byte match")
            high_arms.append((hb, arms))
        expect(lambda l: l == "}", "end of high-byte arm")
    expect(lambda l: l == "};", "end of high-byte match")
    expect(lambda l: l.startswith("Fold::One( char::from_u32(single_char as u32).unwrap_or(orig) )"), "Fold::One")
    expect(lambda l: l == "} else {", "else")
    expect(lambda l: l == "let single_char: u32 = match from {", "match from")
    big_arms = []
    while not re.fullmatch(r"_ => from", lines[i]):
        big_arms.append(parse_arm(lines[i], 32))
        i += 1
    return split, high_arms, big_arms


def is_scalar(v):
    return 0 <= v <= MAX_SCALAR and not (0xD800 <= v <= 0xDFFF)


def eval_lookup(parsed, cp):
    """The crate's `lookup(cp)` as its Fold value: a tuple in constructor order."""
    split, high_arms, big_arms = parsed
    if cp <= split:
        hb, lb = cp >> 8, cp & 0xFF
        single = cp
        for h, arms in high_arms:
            if h != hb:
                continue
            if arms is not None:
                for pred, fn in arms:
                    if pred(lb):
                        single = fn(cp)
                        break
            break
    else:
        single = cp
        for pred, fn in big_arms:
            if pred(cp):
                single = fn(cp)
                break
    if isinstance(single, tuple):
        return single
    return (single,) if is_scalar(single) else (cp,)


def parse_naive(text):
    start = text.index("fn lookup_naive(orig: char) -> Fold {")
    end = text.index("for c_index in", start)
    table = {}
    for raw in text[start:end].splitlines():
        line = raw.strip()
        m = re.fullmatch(r"0x([0-9a-fA-F]+) => (.+?),?", line)
        if not m:
            continue
        cp = int(m.group(1), 16)
        expr = m.group(2)
        fold = parse_fold(expr)
        if fold is None:
            v = re.fullmatch(r"0x([0-9a-fA-F]+)", expr)
            if not v:
                fail("cannot parse naive entry: " + line)
            fold = (int(v.group(1), 16),)
        if cp in table:
            fail("duplicate naive entry U+%04X" % cp)
        table[cp] = fold
    return table


def yielded(fold):
    """Order in which unicase 2.6.0's `Iterator for Fold` yields a fold's scalars."""
    if len(fold) == 3:
        a, b, c = fold
        return (c, a, b)
    return fold


# ---------------------------------------------------------------- building the table

def build(text):
    parsed = parse_lookup(text)
    naive = parse_naive(text)
    folds = {}
    for cp in range(MAX_SCALAR + 1):
        if not is_scalar(cp):
            continue
        got = eval_lookup(parsed, cp)
        ref = naive.get(cp, (cp,))
        if got != ref:
            fail("lookup() and lookup_naive() disagree at U+%04X: %r vs %r" % (cp, got, ref))
        if got != (cp,):
            folds[cp] = got
    for cp in naive:
        if naive[cp] != (cp,) and cp not in folds:
            fail("naive entry U+%04X lost" % cp)
    return folds


def sanity(folds):
    def chk(cond, msg):
        if not cond:
            fail("sanity check failed: " + msg)
    chk(folds.get(0xA7C2) == (0xA7C3,), "U+A7C2 -> U+A7C3 (Unicode 12)")
    for cp in (0xA7C7, 0xA7F5, 0x2C2F, 0x10570):
        chk(cp not in folds, "U+%04X must be absent (added after Unicode 12)" % cp)
    chk(folds.get(0x00DF) == (0x73, 0x73), "U+00DF -> ss")
    chk(folds.get(0x1E9E) == (0x73, 0x73), "U+1E9E -> ss")
    chk(folds.get(0x017F) == (0x73,), "U+017F -> s")
    chk(folds.get(0x212A) == (0x6B,), "U+212A -> k")
    chk(folds.get(0x2126) == (0x3C9,), "U+2126 -> U+03C9")
    chk(folds.get(0x0130) == (0x69, 0x307), "U+0130 -> i U+0307")
    chk(folds.get(0x03C2) == (0x3C3,), "U+03C2 -> U+03C3")
    chk(folds.get(0x13A0) is None and folds.get(0xAB70) == (0x13A0,), "Cherokee folds to upper case")
    chk(folds.get(0x00B5) == (0x3BC,), "U+00B5 -> U+03BC")
    chk(0x0131 not in folds, "U+0131 (dotless i) has no C/F fold")
    chk(folds.get(0x0049) == (0x69,), "I -> i (no Turkic T entries)")
    for c in range(0x80):
        want = (c + 32,) if 0x41 <= c <= 0x5A else None
        chk(folds.get(c) == want, "ASCII U+%04X" % c)
    chk(all(len(v) <= 3 for v in folds.values()), "fold length <= 3")
    chk(all(0 not in v for v in folds.values()), "no fold yields U+0000 (0 marks an empty slot)")
    chk(all(t < (1 << 21) for v in folds.values() for t in v), "targets fit 21 bits")
    chk(folds.get(0xFB03) == (0x66, 0x66, 0x69), "U+FB03 constructor order")


def layout(folds):
    """Two-level table. stage1[cp >> BLOCK_SHIFT] -> block number; stage2[block << BLOCK_SHIFT | low]
    -> index into `folds` (0 = scalar folds to itself). folds[i] packs up to three 21-bit scalars,
    first yielded in the low bits; an all-zero slot ends the sequence."""
    limit = ((max(folds) >> BLOCK_SHIFT) + 1) << BLOCK_SHIFT
    bsize = 1 << BLOCK_SHIFT
    keys = sorted(folds)
    packed = [0]
    index_of = {}
    for cp in keys:
        seq = yielded(folds[cp])
        v = 0
        for k, s in enumerate(seq):
            v |= s << (21 * k)
        if v not in index_of:
            index_of[v] = len(packed)
            packed.append(v)
    blocks = [tuple([0] * bsize)]
    block_id = {blocks[0]: 0}
    stage1 = []
    for b in range(limit >> BLOCK_SHIFT):
        blk = []
        for lo in range(bsize):
            cp = (b << BLOCK_SHIFT) | lo
            if cp in folds:
                seq = yielded(folds[cp])
                v = 0
                for k, s in enumerate(seq):
                    v |= s << (21 * k)
                blk.append(index_of[v])
            else:
                blk.append(0)
        blk = tuple(blk)
        if blk not in block_id:
            block_id[blk] = len(blocks)
            blocks.append(blk)
        stage1.append(block_id[blk])
    if len(blocks) > 256:
        fail("too many blocks for UInt8 stage1")
    if len(packed) > 65535:
        fail("too many folds for UInt16 stage2")
    stage2 = [x for blk in blocks for x in blk]
    return limit, stage1, stage2, packed


def fmt_array(values, per_line, width):
    out = []
    for i in range(0, len(values), per_line):
        out.append("        " + ", ".join(("0x%0" + str(width) + "X") % v for v in values[i:i + per_line]) + ",")
    return "\n".join(out)


def emit(folds, limit, stage1, stage2, packed):
    n_c = sum(1 for v in folds.values() if len(v) == 1)
    n2 = sum(1 for v in folds.values() if len(v) == 2)
    n3 = sum(1 for v in folds.values() if len(v) == 3)
    return f"""// GENERATED by scripts/gen-unicase-table.py. DO NOT EDIT.
//
// Source: Rust crate `{CRATE}` {CRATE_VERSION} (commit {CRATE_COMMIT}),
//         file {SOURCE_PATH}, SHA-256 {SOURCE_SHA256}
//         (Unicode 12.x CaseFolding.txt, statuses C and F, as that crate version has it).
// Data only (MIT/Apache-2.0 crate); the lookup code is our own.
//
// {len(folds)} scalars fold: {n_c} to one scalar, {n2} to two, {n3} to three.
// 3-scalar folds are stored in the order unicase 2.6.0 yields them (third, first, second),
// which is what Anki's collation compares (e.g. U+FB03 compares as "iff").
//
// Layout: for scalar cp < limit, block = stage1[cp >> blockShift],
// i = stage2[block << blockShift | (cp & blockMask)]; i == 0 means cp folds to itself,
// else folds[i] packs up to three 21-bit scalars (first yielded in the low bits, 0 = none).

enum UnicaseFoldTable {{
    static let crateVersion = "{CRATE_VERSION}"
    static let sourceSHA256 = "{SOURCE_SHA256}"
    static let foldingScalarCount = {len(folds)}
    static let blockShift: UInt32 = {BLOCK_SHIFT}
    static let blockMask: UInt32 = {(1 << BLOCK_SHIFT) - 1}
    /// Scalars at or above this never fold.
    static let limit: UInt32 = 0x{limit:X}

    static let stage1: [UInt8] = [
{fmt_array(stage1, 16, 2)}
    ]

    static let stage2: [UInt16] = [
{fmt_array(stage2, 16, 4)}
    ]

    static let folds: [UInt64] = [
{fmt_array(packed, 6, 16)}
    ]
}}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("map_rs", help="path to unicase 2.6.0 src/unicode/map.rs")
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--out", default=os.path.join(repo, "Sources/Storage/Unicase/UnicaseFoldTable.swift"))
    ap.add_argument("--check", action="store_true", help="verify the committed output instead of writing")
    args = ap.parse_args()

    data = open(args.map_rs, "rb").read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != SOURCE_SHA256:
        fail("%s has SHA-256 %s, expected %s (unicase %s %s)" % (args.map_rs, digest, SOURCE_SHA256, CRATE_VERSION, SOURCE_PATH))
    text = data.decode("utf-8")

    folds = build(text)
    sanity(folds)
    limit, stage1, stage2, packed = layout(folds)
    out = emit(folds, limit, stage1, stage2, packed)

    if args.check:
        try:
            current = open(args.out, encoding="utf-8").read()
        except FileNotFoundError:
            current = None
        if current != out:
            fail("%s is out of date; rerun without --check" % args.out)
        print("ok: %s matches unicase %s (%d folding scalars)" % (args.out, CRATE_VERSION, len(folds)))
        return
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(out)
    print("wrote %s: %d folding scalars, %d blocks, stage1 %d, stage2 %d, folds %d"
          % (args.out, len(folds), len(stage2) >> BLOCK_SHIFT, len(stage1), len(stage2), len(packed)))


if __name__ == "__main__":
    main()
