#!/usr/bin/env python3
"""An independent model of provlog-map-v1 (docs/MAP.md), written apart from
the Rust code (it builds each map from its sorted pairs; the Rust map
inserts one key at a time), and the generator of map_v1.json:

    python3 testdata/vectors/map_v1_model.py > testdata/vectors/map_v1.json
"""
import hashlib, json, random, base64

H = lambda b: hashlib.sha256(b).digest()
LEAF, INNER, EMPTY = b'\x12', b'\x13', b'\x14'
EMPTY_ROOT = H(EMPTY)


def bit(k, b):
    return (k[b >> 3] >> (7 - (b & 7))) & 1


def leaf_hash(k, v):
    assert len(k) == 32 and len(v) == 32
    return H(LEAF + k + v)


def inner_hash(b, l, r):
    assert 0 <= b < 256
    return H(INNER + bytes([b]) + l + r)


def lcp(a, c):
    for i in range(32):
        x = a[i] ^ c[i]
        if x:
            return i * 8 + (8 - x.bit_length())
    return 256


def build(items):  # sorted (k, v) pairs with distinct keys -> node
    if len(items) == 1:
        return ('L', items[0][0], items[0][1], leaf_hash(*items[0]))
    b = lcp(items[0][0], items[-1][0])
    i = next(j for j, (k, _) in enumerate(items) if bit(k, b) == 1)
    l, r = build(items[:i]), build(items[i:])
    return ('I', b, l, r, inner_hash(b, l[-1], r[-1]))


def root(d):
    return build(sorted(d.items()))[-1] if d else EMPTY_ROOT


def prove(d, K):
    if not d:
        return (2, None, [])
    n = build(sorted(d.items()))
    steps = []
    while n[0] == 'I':
        b, l, r = n[1], n[2], n[3]
        if bit(K, b) == 0:
            steps.append((b, r[-1])); n = l
        else:
            steps.append((b, l[-1])); n = r
    steps.reverse()  # leaf -> root
    return (0, None, steps) if n[1] == K else (1, (n[1], n[2]), steps)


def encode(p):
    kind, alt, steps = p
    out = bytes([kind]) + (alt[0] + alt[1] if kind == 1 else b'')
    out += len(steps).to_bytes(2, 'big')
    for b, s in steps:
        out += bytes([b]) + s
    return out


def verify(root_, K, V, proof):  # V None claims absence
    if len(proof) < 3:
        return False
    kind, p = proof[0], 1
    if kind == 1:
        if len(proof) < 67:
            return False
        k, v, p = proof[1:33], proof[33:65], 65
    elif kind not in (0, 2):
        return False
    n = int.from_bytes(proof[p:p + 2], 'big'); p += 2
    if n > 256 or len(proof) != p + 33 * n:
        return False
    if kind == 2:
        return V is None and n == 0 and root_ == EMPTY_ROOT
    if kind == 0:
        if V is None:
            return False
        k, v = K, V
    elif V is not None or k == K:
        return False
    h, prev = leaf_hash(k, v), 256
    for _ in range(n):
        b, s = proof[p], proof[p + 1:p + 33]; p += 33
        if b >= prev or bit(K, b) != bit(k, b):
            return False
        prev = b
        h = inner_hash(b, h, s) if bit(K, b) == 0 else inner_hash(b, s, h)
    return h == root_


def b64(x):
    return base64.b64encode(x).decode()


def case(name, d, queries):
    r = root(d)
    out = {"name": name, "pairs": [[b64(k), b64(v)] for k, v in sorted(d.items())], "root": b64(r), "proofs": []}
    for K in queries:
        p = encode(prove(d, K))
        V = d.get(K)
        assert verify(r, K, V, p)
        out["proofs"].append({"key": b64(K), "value": b64(V) if V else None, "proof": b64(p)})
    return out


def main():
    K = lambda i: H(b"key %d" % i)
    V = lambda i: H(b"value %d" % i)
    rng = random.Random(14)
    rk = lambda: bytes(rng.getrandbits(8) for _ in range(32))
    cases = [
        case("empty", {}, [K(1)]),
        case("one key", {K(1): V(1)}, [K(1), K(2)]),
        # Inner(2, leaf 2, Inner(3, leaf 1, leaf 3)); key 4 diverges at bit 0, above the root's split.
        case("three keys", {K(i): V(i) for i in (1, 2, 3)}, [K(1), K(2), K(3), K(4)]),
    ]
    big = {rk(): rk() for _ in range(200)}
    cases.append(case("200 random keys", big, list(big)[:20] + [rk() for _ in range(20)]))
    # Keys that share a long prefix, and a query that differs at bit 0.
    base = rk()
    shared = {}
    for _ in range(8):
        k = bytearray(rk()); k[0], k[1] = base[0], base[1]; k[2] = (base[2] & 0xF0) | (k[2] & 0x0F)
        shared[bytes(k)] = rk()
    q = bytearray(base); q[0] ^= 0x80
    cases.append(case("shared prefix", shared, list(shared)[:2] + [bytes(q)]))
    # Proofs that must fail: (root, key, value or null, proof, why).
    d3 = {K(i): V(i) for i in (1, 2, 3)}
    r3 = root(d3)
    good = encode(prove(d3, K(1)))
    absent = encode(prove(d3, K(4)))
    flip = bytearray(good); flip[-1] ^= 1
    swapped = bytearray(good); swapped[3], swapped[36] = swapped[36], swapped[3]
    alt_is_key = bytearray(absent); alt_is_key[1:33] = K(4)
    bad = [
        (r3, K(1), V(2), good, "wrong value"),
        (r3, K(1), None, good, "an inclusion proof claimed as absence"),
        (r3, K(1), V(1), bytes(flip), "a flipped sibling bit"),
        (r3, K(1), V(1), good + b'\x00', "a trailing byte"),
        (r3, K(1), V(1), bytes(swapped), "bits not strictly decreasing from leaf to root"),
        (r3, K(4), None, bytes(alt_is_key), "the alternative leaf is the key itself"),
        (r3, K(4), V(4), absent, "an absence proof claimed as inclusion"),
        (r3, K(1), None, bytes([2, 0, 0]), "an empty-map proof for a non-empty map"),
        (r3, K(1), V(1), bytes([3, 0, 0]), "an unknown kind"),
        (r3, K(1), V(1), bytes([0, 1, 1]) + b'\x00' * 33 * 257, "more than 256 steps"),
    ]
    invalid = []
    for r, k, v, p, why in bad:
        assert not verify(r, k, v, p), why
        invalid.append({"root": b64(r), "key": b64(k), "value": b64(v) if v else None, "proof": b64(p), "why": why})
    print(json.dumps({
        "format": "provlog-map-v1 (docs/MAP.md); base64 is standard with padding",
        "empty_root": b64(EMPTY_ROOT),
        "valid": cases,
        "invalid": invalid,
    }, indent=1))


if __name__ == "__main__":
    main()
