#!/usr/bin/env python3
"""Writes rotation_v1.json: a log key rotation (docs/ROTATION.md) computed
with Python's `cryptography` (OpenSSL's Ed25519), `hashlib` and `json`, not
with provlog's code: the announcement message, both signatures, the entry
that logs it, a five-entry tree holding it at index 3, the checkpoint of
that tree signed by both keys (C2SP signed note), the inclusion proof, and
the key history a log serves, plus histories that must be refused.

    python3 testdata/vectors/rotation_v1.py > testdata/vectors/rotation_v1.json
"""
import base64
import hashlib
import json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

ORIGIN = "log.example/rotating"
b64 = lambda b: base64.b64encode(b).decode()


def jcs(v):
    # RFC 8785 for ASCII strings and small integers: sorted keys, no spaces.
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key(seed_byte):
    k = Ed25519PrivateKey.from_private_bytes(bytes([seed_byte]) * 32)
    pub = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    raw = b"\x01" + pub
    key_id = hashlib.sha256(ORIGIN.encode() + b"\n" + raw).digest()[:4]
    vkey = f"{ORIGIN}+{key_id.hex()}+{b64(raw)}"
    return k, key_id, vkey


def note(text, signers):
    lines = "".join(f"\u2014 {ORIGIN} {b64(kid + k.sign(text.encode()))}\n" for k, kid in signers)
    return text + "\n" + lines


leaf_hash = lambda e: hashlib.sha256(b"\x00" + e).digest()
node = lambda l, r: hashlib.sha256(b"\x01" + l + r).digest()


def root(hs):
    # RFC 9162 §2.1.1 MTH over leaf hashes.
    if len(hs) == 1:
        return hs[0]
    k = 1
    while k * 2 < len(hs):
        k *= 2
    return node(root(hs[:k]), root(hs[k:]))


def inclusion(m, hs):
    # RFC 9162 §2.1.3.1 PATH(m, D[n]).
    if len(hs) == 1:
        return []
    k = 1
    while k * 2 < len(hs):
        k *= 2
    if m < k:
        return inclusion(m, hs[:k]) + [root(hs[k:])]
    return inclusion(m - k, hs[k:]) + [root(hs[:k])]


(k0, id0, v0), (k1, id1, v1), (k9, id9, v9) = key(0x31), key(0x32), key(0x39)
overlap_until = "2026-12-04T10:00:00.000Z"
logged_at = "2026-12-03T10:00:00.000Z"
message = b"provlog/log-key/v1\n" + jcs({"new": v1, "old": v0, "overlap_until": overlap_until})


def announcement(old_sig, new_sig):
    obj = {"new": v1, "new_signature": b64(new_sig), "old": v0, "old_signature": b64(old_sig),
           "overlap_until": overlap_until}
    return jcs({"kind": "policy", "log_key": obj, "logged_at": logged_at, "v": 1})


def history(entry, signers):
    leaves = [leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c"), leaf_hash(entry), leaf_hash(b"d")]
    r = root(leaves)
    text = f"{ORIGIN}\n{len(leaves)}\n{b64(r)}\n"
    return {"rotations": [{
        "index": 3,
        "entry": b64(entry),
        "checkpoint": note(text, signers),
        "inclusion": [b64(h) for h in inclusion(3, leaves)],
        "consistency": [],
    }]}


old_sig, new_sig = k0.sign(message), k1.sign(message)
entry = announcement(old_sig, new_sig)
good = history(entry, [(k0, id0), (k1, id1)])
print(json.dumps({
    "comment": "COMPUTED by rotation_v1.py with Python cryptography (OpenSSL Ed25519). Both keys sign "
               "'provlog/log-key/v1\\n' || JCS({new, old, overlap_until}); the entry is the policy-kind "
               "leaf with member log_key; the history verifies from either key and the new key signs "
               "trees larger than 3.",
    "origin": ORIGIN,
    "old_seed_hex": (bytes([0x31]) * 32).hex(),
    "new_seed_hex": (bytes([0x32]) * 32).hex(),
    "old_vkey": v0,
    "new_vkey": v1,
    "unannounced_vkey": v9,
    "overlap_until": overlap_until,
    "logged_at": logged_at,
    "message_hex": message.hex(),
    "old_signature": b64(old_sig),
    "new_signature": b64(new_sig),
    "entry": entry.decode(),
    "leaf_hash_hex": leaf_hash(entry).hex(),
    "history": good,
    "invalid": [
        {"name": "the new key did not sign the announcement (an unannounced key signed it)",
         "history": history(announcement(old_sig, k9.sign(message)), [(k0, id0), (k1, id1)]),
         "code": "rotation_signature"},
        {"name": "the old key did not sign the announcement",
         "history": history(announcement(k9.sign(message), new_sig), [(k0, id0), (k1, id1)]),
         "code": "rotation_signature"},
        {"name": "the checkpoint is signed by the new key only",
         "history": history(entry, [(k1, id1)]),
         "code": "rotation_checkpoint"},
    ],
}, indent=1, ensure_ascii=False))
