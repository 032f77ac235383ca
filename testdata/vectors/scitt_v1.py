#!/usr/bin/env python3
"""Writes scitt_v1.json: a SCITT signed statement as provlog registers it,
its logged form, the statement leaf and its frame, a four-entry tree that
holds it, its COSE receipt (RFC 9942) at a fixed iat, and the transparent
statement (docs/SCITT.md), computed with `cbor2`, `cryptography` (OpenSSL's
Ed25519) and `hashlib`, not with provlog's code. Runs in the venv of
scripts/pytools:

    $PROVLOG_TOOLS/venv/bin/python testdata/vectors/scitt_v1.py > testdata/vectors/scitt_v1.json
"""
import base64
import hashlib
import json

import cbor2
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def jcs(v):
    # RFC 8785 for what the event holds (ASCII strings, objects).
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def key(name, seed):
    k = Ed25519PrivateKey.from_private_bytes(seed)
    pub = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    # C2SP signed-note key ID: SHA-256(name || 0x0a || 0x01 || key)[:4].
    kid = hashlib.sha256(name.encode() + b"\n\x01" + pub).digest()[:4]
    vkey = f"{name}+{kid.hex()}+" + base64.b64encode(b"\x01" + pub).decode()
    skey = f"PRIVATE+KEY+{name}+{kid.hex()}+" + base64.b64encode(b"\x01" + seed).decode()
    return k, kid, vkey, skey


def sig_structure(protected, payload):
    return cbor2.dumps(["Signature1", protected, b"", payload])


def leaf_hash(b):
    return hashlib.sha256(b"\x00" + b).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


origin = "log.example/scitt"
submitter, sub_kid, sub_vkey, sub_skey = key("ci", bytes(range(0x80, 0xA0)))
log, log_kid, log_vkey, log_skey = key(origin, bytes(range(0xA0, 0xC0)))

event = {
    "event_id": "vec-statement-1",
    "occurred_at": "2026-12-04T10:00:00Z",
    "action": "rotate",
    "actor": {"id": "wf/rotate", "type": "workflow"},
    "target": {"id": "svc-payments", "type": "service_account"},
    "authority": {},
    "decision": {"result": "allow"},
    "outcome": "success",
    "credential": {"fingerprint": "sha256:" + "ab" * 32},
}
payload = jcs(event)
iat_statement = 1_796_378_400
# The protected header in the order of its bytes (alg, content type, kid,
# CWT claims: iss, sub, aud, iat).
protected = cbor2.dumps({
    1: -8,
    3: "application/json",
    4: sub_kid,
    15: {1: "ci", 2: "svc-payments", 3: origin, 6: iat_statement},
})
signature = submitter.sign(sig_structure(protected, payload))
# As a client sends it: with something in the unprotected header that the
# log drops (a label it does not read).
sent = cbor2.dumps(cbor2.CBORTag(18, [protected, {"note": "dropped by the log"}, payload, signature]))
logged = cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature]))

logged_at = "2026-12-04T10:00:01.000Z"
leaf = (
    b'{"cose_sign1":"' + base64.b64encode(logged)
    + b'","kind":"statement","logged_at":"' + logged_at.encode()
    + b'","submitter":"ci","v":1}'
)
frame = '{"cose_sign1":"","kind":"statement","logged_at":"' + logged_at + '","submitter":"ci","v":1}'

# A four-entry tree with the statement's leaf at index 2.
others = [b"vector entry 0", b"vector entry 1", b"vector entry 3"]
entries = [others[0], others[1], leaf, others[2]]
h = [leaf_hash(e) for e in entries]
root = node(node(h[0], h[1]), node(h[2], h[3]))
path = [h[3], node(h[0], h[1])]

iat_receipt = 1_796_378_401
receipt_protected = cbor2.dumps({1: -8, 4: log_kid, 395: 1, 15: {1: origin, 6: iat_receipt}})
receipt_signature = log.sign(sig_structure(receipt_protected, root))
proof = cbor2.dumps([4, 2, path])
receipt = cbor2.dumps(cbor2.CBORTag(18, [
    receipt_protected,
    {396: {-1: [proof]}, "provlog_leaf": frame},
    None,
    receipt_signature,
]))
transparent = cbor2.dumps(cbor2.CBORTag(18, [protected, {394: [receipt]}, payload, signature]))

print(json.dumps({
    "description": "docs/SCITT.md: a signed statement by submitter ci, its logged form, leaf and frame, "
                   "entry 2 of a four-entry tree, its COSE receipt and the transparent statement. "
                   "COMPUTED by scitt_v1.py (cbor2, cryptography, hashlib).",
    "origin": origin,
    "log_skey": log_skey,
    "log_vkey": log_vkey,
    "log_kid_hex": log_kid.hex(),
    "submitter_skey": sub_skey,
    "submitter_vkey": sub_vkey,
    "submitter_kid_hex": sub_kid.hex(),
    "event": event,
    "payload_hex": payload.hex(),
    "statement_iat": iat_statement,
    "statement_protected_hex": protected.hex(),
    "statement_sig_structure_hex": sig_structure(protected, payload).hex(),
    "statement_sent_hex": sent.hex(),
    "statement_logged_hex": logged.hex(),
    "logged_at": logged_at,
    "leaf": leaf.decode(),
    "leaf_hash_hex": leaf_hash(leaf).hex(),
    "frame": frame,
    "tree_entries_hex": [e.hex() for e in entries],
    "leaf_index": 2,
    "tree_size": 4,
    "root_hex": root.hex(),
    "inclusion_path_hex": [p.hex() for p in path],
    "receipt_iat": iat_receipt,
    "receipt_protected_hex": receipt_protected.hex(),
    "receipt_hex": receipt.hex(),
    "transparent_statement_hex": transparent.hex(),
}, indent=2))
