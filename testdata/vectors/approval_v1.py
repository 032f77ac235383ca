#!/usr/bin/env python3
"""Writes approval_v1.json: a signed approval (docs/DESIGN.md "Approvals")
and the event leaf that logs it, computed with Python's `cryptography`
(OpenSSL's Ed25519) and the standard library's JSON, not with provlog's
code.

    python3 testdata/vectors/approval_v1.py > testdata/vectors/approval_v1.json
"""
import base64
import hashlib
import json
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization


def jcs(v):
    # RFC 8785 for what these objects hold (strings, small integers,
    # arrays, objects): keys sorted by UTF-16 code units equal bytewise for
    # ASCII; integers print as themselves.
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


seed = bytes(range(0x60, 0x80))
key = Ed25519PrivateKey.from_private_bytes(seed)
pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
approval = {
    "id": "CHG-1042/alice",
    "approver": "alice",
    "submitter": "ci",
    "actor": "wf/offboard",
    "actions": ["revoke"],
    "target": "prod/db-*",
    "system": "gcp",
    "fingerprint": "sha256:" + "cd" * 32,
    "not_before": "2026-12-01T09:00:00Z",
    "not_after": "2026-12-01T11:00:00Z",
    "max_uses": 1,
    "refs": ["CHG-1042", "https://tickets.example/CHG-1042"],
}
a = jcs(approval)
cases = []
for origin in ["example.com/log-a", "log.example.org/prod"]:
    m = b"provlog/approval/v1\n" + origin.encode() + b"\n" + a
    cases.append({
        "origin": origin,
        "message_hex": m.hex(),
        "signature": base64.b64encode(key.sign(m)).decode(),
    })
signed = {"approval": approval, "signature": cases[0]["signature"]}
event = {
    "event_id": "vec-approved-1",
    "occurred_at": "2026-12-01T10:00:00Z",
    "action": "revoke",
    "actor": {"id": "wf/offboard", "type": "workflow"},
    "target": {"id": "prod/db-main", "type": "service_account", "system": "gcp"},
    "authority": {"approval_id": "CHG-1042/alice", "approved_by": "alice"},
    "decision": {"result": "allow"},
    "outcome": "success",
    "credential": {"fingerprint": "sha256:" + "cd" * 32},
}
event_sig = "A" * 86 + "=="  # any 64 bytes: the leaf's layout is the point here
logged_at = "2026-12-01T10:00:01.000Z"
leaf = {
    "approvals": [signed],
    "event": event,
    "kind": "event",
    "logged_at": logged_at,
    "signature": event_sig,
    "submitter": "ci",
    "v": 2,
}
print(json.dumps({
    "comment": "COMPUTED by approval_v1.py with Python cryptography (OpenSSL Ed25519). An approval "
               "signature covers 'provlog/approval/v1\\n' || origin || '\\n' || JCS(approval) and verifies "
               "under that origin only; its uses are recorded under SHA-256(JCS(approval)).",
    "seed_hex": seed.hex(),
    "public_key_hex": pub.hex(),
    "approval": approval,
    "approval_jcs": a.decode(),
    "digest_hex": hashlib.sha256(a).hexdigest(),
    "cases": cases,
    "signed_jcs": jcs(signed).decode(),
    "leaf": {"event_signature": event_sig, "logged_at": logged_at, "bytes": jcs(leaf).decode()},
}, indent=2, ensure_ascii=False))
