#!/usr/bin/env python3
"""Writes event_signature_v2.json: event signatures of version 1 and 2
(docs/DESIGN.md "One log per signature") computed with Python's
`cryptography` (OpenSSL's Ed25519), not with provlog's code.

    python3 testdata/vectors/event_signature_v2.py > testdata/vectors/event_signature_v2.json
"""
import base64
import json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization


def jcs(v):
    # RFC 8785 for what these events hold (strings and objects only, no
    # numbers): keys sorted by UTF-16 code units equal bytewise for ASCII.
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


seed = bytes(range(0x40, 0x60))
key = Ed25519PrivateKey.from_private_bytes(seed)
pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
event = {
    "event_id": "vec-1",
    "occurred_at": "2026-12-01T10:00:00Z",
    "action": "rotate",
    "actor": {"id": "wf/rotate-keys", "type": "workflow"},
    "target": {"id": "svc-payments", "type": "service_account", "system": "gcp"},
    "authority": {"approval_id": "CHG-7", "approved_by": "alice"},
    "decision": {"result": "allow", "policy_id": "rot-90d"},
    "outcome": "success",
    "credential": {"fingerprint": "sha256:" + "ab" * 32},
}
e = jcs(event)
cases = []
for origin in ["example.com/log-a", "log.example.org/prod"]:
    m2 = b"provlog/event/v2\n" + origin.encode() + b"\n" + e
    cases.append({
        "origin": origin,
        "message_v2_hex": m2.hex(),
        "signature_v2": base64.b64encode(key.sign(m2)).decode(),
    })
m1 = b"provlog/event/v1\n" + e
logged_at = "2026-12-01T10:00:01.000Z"
sig2 = cases[0]["signature_v2"]
leaf_v2 = (b'{"event":' + e + b',"kind":"event","logged_at":"' + logged_at.encode()
           + b'","signature":"' + sig2.encode() + b'","submitter":"ci","v":2}')
print(json.dumps({
    "comment": "COMPUTED by event_signature_v2.py with Python cryptography (OpenSSL Ed25519). "
               "A version 2 signature covers 'provlog/event/v2\\n' || origin || '\\n' || JCS(event) "
               "and verifies under that origin only; version 1 covers 'provlog/event/v1\\n' || JCS(event).",
    "seed_hex": seed.hex(),
    "public_key_hex": pub.hex(),
    "submitter": "ci",
    "event": event,
    "event_jcs": e.decode(),
    "message_v1_hex": m1.hex(),
    "signature_v1": base64.b64encode(key.sign(m1)).decode(),
    "cases": cases,
    "leaf_v2": {"logged_at": logged_at, "origin": cases[0]["origin"], "bytes": leaf_v2.decode()},
}, indent=2, ensure_ascii=False))
