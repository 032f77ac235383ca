#!/usr/bin/env python3
"""Regenerates the committed seed corpora under fuzz/corpus/<target>/.

    python3 fuzz/gen_seeds.py [--provlog PATH]

Seeds come from the test vectors in testdata/vectors, from notes and
checkpoints signed here with the fuzz targets' fixed log key
(`SignerKey::from_seed("fuzz.example/log", 0x01, [1; 32])`), and, when a
built `provlog` binary is available (default
$HOME/.cache/provlog/target/release/provlog), from a throwaway server run
with that same log key: real submissions (`provlog sign`), receipts
(`provlog submit`, `GET /v1/entries/<i>`), leaves and credential answers
(`provlog credential`), so that receipt and credential seeds verify in the
fuzz targets. The server is started on a free port in a temporary directory
and stopped before the script exits.

Needs Python 3 with the `cryptography` package (Ed25519). Deterministic
except for what the server stamps (logged_at, checkpoints).
"""

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VECTORS = os.path.join(ROOT, "testdata", "vectors")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
TARGETS = [
    "note_checkpoint", "tile_path", "bundle", "submission", "proofs",
    "witness_body", "receipt", "credential_answer", "cose_receipt", "statement",
]
DASH = "\u2014 "


def vec(name):
    with open(os.path.join(VECTORS, name + ".json"), encoding="utf-8") as f:
        return json.load(f)


def b64(b):
    return base64.b64encode(b).decode()


class Key:
    """A signed-note Ed25519 key (type 0x01) or cosignature/v1 key (0x04)."""

    def __init__(self, name, seed, alg=1):
        self.name, self.seed, self.alg = name, bytes(seed), alg
        self.sk = Ed25519PrivateKey.from_private_bytes(self.seed)
        self.pub = self.sk.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        h = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + self.pub).digest()
        self.key_id = h[:4]

    def skey(self):
        return "PRIVATE+KEY+%s+%s+%s" % (self.name, self.key_id.hex(), b64(bytes([self.alg]) + self.seed))

    def vkey(self):
        return "%s+%s+%s" % (self.name, self.key_id.hex(), b64(bytes([self.alg]) + self.pub))

    def sig_line(self, text, timestamp=0):
        if self.alg == 4:
            msg = ("cosignature/v1\ntime %d\n%s" % (timestamp, text)).encode()
            payload = timestamp.to_bytes(8, "big") + self.sk.sign(msg)
        else:
            payload = self.sk.sign(text.encode())
        return "%s%s %s\n" % (DASH, self.name, b64(self.key_id + payload))

    def note(self, text, *extra_lines):
        return text + "\n" + self.sig_line(text) + "".join(extra_lines)


LOG = Key("fuzz.example/log", [1] * 32)
WITNESS = Key("witness.example/w1", range(0x20, 0x40), alg=4)
DEV = Key("dev", [2] * 32)

seeds = {t: {} for t in TARGETS}


def add(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    seeds[target][name] = data


def leaf_hash(b):
    return hashlib.sha256(b"\x00" + b).digest()


def node_hash(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def mth(leaves):
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


def checkpoint_text(origin, size, root, *ext):
    return "%s\n%d\n%s\n%s" % (origin, size, b64(root), "".join(e + "\n" for e in ext))


def note_seeds():
    v = vec("signed_note")
    for i, n in enumerate(v["signed_notes"]):
        add("note_checkpoint", "vec-signed-note-%d" % i, n["signed_note"])
    for i, c in enumerate(v["verification_cases"]):
        if "signed_note" in c:
            add("note_checkpoint", "vec-verification-%d" % i, c["signed_note"])
    for i, c in enumerate(v["malformed_notes"]):
        add("note_checkpoint", "vec-malformed-%d" % i, bytes.fromhex(c["message_hex"]))
    w = vec("witness_add_checkpoint")
    for k, n in w["signed_checkpoints"].items():
        add("note_checkpoint", "vec-witness-checkpoint-" + k, n)
    cp = vec("checkpoint")
    for i, c in enumerate(cp["valid"]):
        add("note_checkpoint", "vec-checkpoint-valid-%d" % i, c["text"])
        # Signed by the fuzz key: opens up to the origin check.
        add("note_checkpoint", "fuzzkey-other-origin-%d" % i, LOG.note(c["text"]))
    for i, c in enumerate(cp["invalid"][:6]):
        add("note_checkpoint", "vec-checkpoint-invalid-%d" % i, c["text"])

    root8 = mth([bytes.fromhex(h) for h in vec("merkle_reference_8")["leaf_inputs_hex"]])
    texts = {
        "size0": checkpoint_text(LOG.name, 0, mth([])),
        "size8": checkpoint_text(LOG.name, 8, root8),
        "max": checkpoint_text(LOG.name, 2**64 - 1, hashlib.sha256(b"max").digest()),
        "ext": checkpoint_text(LOG.name, 5, hashlib.sha256(b"5").digest(), "ext one", "\u00e9xt two"),
    }
    for k, t in texts.items():
        add("note_checkpoint", "fuzzkey-" + k, LOG.note(t))
    add("note_checkpoint", "fuzzkey-cosigned", LOG.note(texts["size8"], WITNESS.sig_line(texts["size8"], 1700000000)))
    # A valid log signature followed by a bad one by the same key.
    bad = LOG.sig_line(texts["size8"]).replace("A", "B", 1)
    add("note_checkpoint", "fuzzkey-bad-second-sig", LOG.note(texts["size8"], bad))


def tile_seeds():
    v = vec("tlog_tile_paths")
    paths = []
    for k in ("go_sumdb_paths", "tlog_tiles_tile_paths", "tlog_tiles_entry_paths",
              "entry_path_for_index", "parse_cases"):
        for c in v[k]:
            if c.get("path") and c["path"] not in paths:
                paths.append(c["path"])
    for k, lst in v["tiles_for_size"].items():
        for p in lst:
            p = p.split(" ")[0]
            if p not in paths:
                paths.append(p)
    for i, p in enumerate(paths):
        add("tile_path", "vec-%02d" % i, p)
    add("tile_path", "max-index", "tile/entries/x018/x446/x744/x073/x709/x551/615")


def bundle_seeds():
    v = vec("tlog_tiles_small")
    for size, d in v["by_tree_size"].items():
        for path, hexbody in d["entry_bundles"].items():
            width = int(path.split(".p/")[1]) if ".p/" in path else 256
            add("bundle", "vec-size%s" % size, bytes([width % 256]) + bytes.fromhex(hexbody))
    # A full 256-entry bundle (first byte 255: the target also tries n + 1).
    full = b"".join(len(e).to_bytes(2, "big") + e for e in (bytes([i]) * (i % 7) for i in range(256)))
    add("bundle", "full-256", bytes([255]) + full)
    add("bundle", "empty", bytes([0]))
    add("bundle", "long-entry", bytes([1]) + (300).to_bytes(2, "big") + b"x" * 300)
    add("bundle", "truncated", bytes([2]) + b"\x00\x05abc")


def proof_seeds():
    # The target reads these through `arbitrary::Unstructured`; vary lengths.
    x = b"provlog"
    for n in (8, 40, 120, 400, 1200, 3000):
        out = b""
        while len(out) < n:
            x = hashlib.sha256(x).digest()
            out += x
        add("proofs", "prng-%d" % n, out[:n])
    add("proofs", "zeros-200", bytes(200))
    add("proofs", "ones-200", b"\xff" * 200)


def witness_seeds():
    w = vec("witness_add_checkpoint")
    for i, c in enumerate(w["cases"]):
        add("witness_body", "vec-case-%02d" % i, c["request_body"])
    t = checkpoint_text(LOG.name, 8, hashlib.sha256(b"8").digest())
    proof = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
    add("witness_body", "fuzzkey-old6",
        "old 6\n" + "".join(b64(p) + "\n" for p in proof) + "\n" + LOG.note(t))


EVENTS = [
    {"event_id": "issue-a", "occurred_at": "2026-11-25T10:00:00Z", "action": "issue",
     "actor": {"id": "wf/issue", "type": "workflow"},
     "target": {"id": "svc-a", "type": "service_account", "system": "gcp"},
     "authority": {"approval_id": "CHG-1", "approved_by": "alice@example.com", "scope": "prod"},
     "decision": {"result": "allow", "policy_id": "p1", "policy_version": "3"},
     "outcome": "success",
     "credential": {"fingerprint": "sha256:" + "a" * 64, "not_after": "2027-02-23T10:00:00Z"}},
    {"event_id": "rotate-a-b", "occurred_at": "2026-11-25T11:00:00.123+01:00", "action": "rotate",
     "actor": {"id": "wf/rotate", "type": "workflow"},
     # The same target as the issue, system included: a credential belongs to one target.
     "target": {"id": "svc-a", "type": "service_account", "system": "gcp"},
     "authority": {}, "decision": {"result": "allow"}, "outcome": "success",
     "credential": {"fingerprint": "sha256:" + "b" * 64, "previous_fingerprint": "sha256:" + "a" * 64}},
    {"event_id": "issue-c", "occurred_at": "2026-11-25T12:00:00Z", "action": "issue",
     "actor": {"id": "wf/issue", "type": "workflow"}, "target": {"id": "svc-c", "type": "service_account"},
     "authority": {}, "decision": {"result": "allow"}, "outcome": "success",
     "credential": {"fingerprint": "sha256:" + "c" * 64}},
    {"event_id": "revoke-c", "occurred_at": "2026-11-25T13:00:00Z", "action": "revoke",
     "actor": {"id": "human/bob", "type": "user"}, "target": {"id": "svc-c", "type": "service_account"},
     "authority": {"approved_by": "carol"}, "decision": {"result": "allow"}, "outcome": "success",
     "credential": {"fingerprint": "sha256:" + "c" * 64}},
    {"event_id": "grant-d-past", "occurred_at": "2020-01-01T00:00:00Z", "action": "grant",
     "actor": {"id": "wf/grant", "type": "workflow"}, "target": {"id": "svc-d", "type": "service_account"},
     "authority": {}, "decision": {"result": "allow"}, "outcome": "success",
     "credential": {"fingerprint": "sha256:" + "d" * 64, "not_after": "2021-01-01T00:00:00Z"}},
    {"event_id": "denied-e", "occurred_at": "2026-11-25T14:00:00Z", "action": "issue",
     "actor": {"id": "wf/issue", "type": "workflow"}, "target": {"id": "svc-e", "type": "service_account"},
     "authority": {}, "decision": {"result": "deny", "policy_id": "p2"}, "outcome": "failure",
     "credential": {"fingerprint": "sha256:" + "e" * 64}},
    {"event_id": "x-custom-details", "occurred_at": "2026-11-25T15:00:00Z", "action": "x-audit.note_1",
     "actor": {"id": "wf/\u00e9t\u00e9 \u2603", "type": "workflow"}, "target": {"id": "svc-f", "type": "k8s"},
     "authority": {}, "decision": {"result": "allow"}, "outcome": "success",
     "details": {"n": [1, -2, 3.5, 1e21, 1e-7, 0], "s": "tab\tquote\"\u20ac\U0001F600", "null": None,
                 "nested": {"b": True, "a": [[], {}], "\u00e9": "z"}}},
    {"event_id": "expire-b", "occurred_at": "2026-11-25T16:00:00Z", "action": "expire",
     "actor": {"id": "cron", "type": "job"}, "target": {"id": "svc-a", "type": "service_account"},
     "authority": {}, "decision": {"result": "allow"}, "outcome": "success",
     "credential": {"fingerprint": "sha256:" + "9" * 64}},
]
FINGERPRINTS = {"active-b": "b", "superseded-a": "a", "revoked-c": "c", "expired-d": "d",
                "denied-e": "e", "unknown-0": "0"}


def json_seeds():
    # Strict-JSON edge cases for the parse_strict / Leaf::parse paths.
    add("submission", "dup-key", '{"event":{},"event":{},"submitter":"x","signature":""}')
    add("submission", "deep-64", "[" * 64 + "]" * 64)
    add("submission", "numbers", '[0,-0,-0.0,1e400,123456789012345678901234567890,5e-324,1.5E+3]')
    # An event leaf and a submission that carry a signed approval
    # (testdata/vectors/approval_v1.json).
    vec = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "vectors",
                                      "approval_v1.json"), encoding="utf-8"))
    add("submission", "approvals-leaf", vec["leaf"]["bytes"])
    leaf = json.loads(vec["leaf"]["bytes"])
    add("submission", "approvals-sub", json.dumps({
        "event": leaf["event"], "submitter": "ci", "signature": leaf["signature"], "signature_version": 2,
        "approvals": leaf["approvals"]}, separators=(",", ":"), ensure_ascii=False))
    # A heartbeat submission and leaf (docs/CHAINS.md; signature bytes are
    # not checked by the target).
    hb = '{"actions":2,"prev":"%s","sent_at":"2026-12-03T10:00:00Z","seq":3}' % b64(bytes(32))
    add("submission", "heartbeat-sub", '{"heartbeat":%s,"signature":"%s","submitter":"ci"}' % (hb, b64(bytes(64))))
    add("submission", "heartbeat-leaf",
        '{"heartbeat":%s,"kind":"heartbeat","logged_at":"2026-12-03T10:00:00.000Z","signature":"%s",'
        '"submitter":"ci","v":1}' % (hb, b64(bytes(64))))
    add("submission", "policy-leaf",
        '{"kind":"policy","logged_at":"2026-11-25T00:00:00.000Z","policy":{"submitters":[{"actions":["*"],'
        '"id":"dev","key":"%s","targets":["*"]}]},"v":1}' % DEV.vkey())


def statement_seeds():
    # SCITT statements (docs/SCITT.md): the vector's statement as sent and
    # as logged, its transparent statement (which verifies in the target:
    # it uses the vector's keys), its receipt; and the statements of the
    # scitt-cose vectors.
    v = vec("scitt_v1")
    for k in ("statement_sent", "statement_logged", "transparent_statement", "receipt"):
        add("statement", k, bytes.fromhex(v[k + "_hex"]))
    add("submission", "statement-leaf", v["leaf"])
    d = os.path.join(VECTORS, "scitt_cose")
    for case in sorted(os.listdir(d)):
        f = os.path.join(d, case, "statement.cose")
        if os.path.isfile(f):
            add("statement", "scitt-cose-" + case, open(f, "rb").read())


def server_seeds(provlog):
    tmp = tempfile.mkdtemp(prefix="provlog-fuzz-seeds-")
    proc = None
    try:
        keydir = os.path.join(tmp, "keys")
        os.makedirs(keydir)
        for fname, key in (("log.skey", LOG), ("dev.skey", DEV)):
            p = os.path.join(keydir, fname)
            with open(os.open(p, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                f.write(key.skey() + "\n")
        events = os.path.join(tmp, "events.jsonl")
        with open(events, "w", encoding="utf-8") as f:
            for e in EVENTS:
                f.write(json.dumps(e, ensure_ascii=False) + "\n")

        # Submissions (no network).
        out = subprocess.run([provlog, "sign", "--key", os.path.join(keydir, "dev.skey"), events],
                             check=True, capture_output=True).stdout.decode().splitlines()
        for i, line in enumerate(out):
            add("submission", "sign-%02d" % i, line)

        proc = subprocess.Popen(
            [provlog, "serve", "--listen", "127.0.0.1:0", "--data-dir", os.path.join(tmp, "data"),
             "--origin", LOG.name, "--log-key", os.path.join(keydir, "log.skey")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="warn"))
        url = None
        deadline = time.time() + 60
        while url is None and time.time() < deadline:
            line = proc.stdout.readline().decode()
            if not line:
                raise RuntimeError("provlog serve exited")
            if "listening on " in line:
                url = line.split("listening on ", 1)[1].strip()
        if url is None:
            raise RuntimeError("provlog serve did not start")

        receipts = subprocess.run(
            [provlog, "submit", "--key", os.path.join(keydir, "dev.skey"), "--url", url, events],
            check=True, capture_output=True).stdout.decode().splitlines()
        for i, r in enumerate(receipts[:4]):
            add("receipt", "submit-%02d" % i, r)
        size = len(EVENTS) + 1
        for i in range(size):
            with urllib.request.urlopen("%s/v1/entries/%d/receipt" % (url, i)) as resp:
                body = resp.read()
            add("receipt", "fresh-%02d" % i, body)
            r = json.loads(body)
            add("submission", "leaf-%02d" % i, base64.b64decode(r["entry"]))
            if i in (1, 5):
                add("receipt", "tlog-proof-%02d" % i, r["tlog_proof"])
            req = urllib.request.Request("%s/v1/entries/%d/receipt" % (url, i),
                                         headers={"Accept": "application/cose"})
            with urllib.request.urlopen(req) as resp:
                cose = resp.read()
            # The target reads its first two bytes as the entry's length.
            entry = base64.b64decode(r["entry"])
            add("cose_receipt", "fresh-%02d" % i, len(entry).to_bytes(2, "big") + entry + cose)
            add("cose_receipt", "bare-%02d" % i, cose)
        for name, c in FINGERPRINTS.items():
            ans = os.path.join(tmp, name + ".json")
            subprocess.run([provlog, "credential", "sha256:" + c * 64, "--url", url, "--out", ans],
                           check=True, capture_output=True)
            with open(ans, "rb") as f:
                add("credential_answer", name, f.read())
        with urllib.request.urlopen(url + "/checkpoint") as resp:
            cp = resp.read()
        add("note_checkpoint", "server-checkpoint", cp)
        add("witness_body", "server-old0", b"old 0\n\n" + cp)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--provlog", default=os.path.expanduser("~/.cache/provlog/target/release/provlog"),
                    help="a built provlog binary (server-derived seeds are skipped if missing)")
    a = ap.parse_args()
    note_seeds()
    tile_seeds()
    bundle_seeds()
    proof_seeds()
    witness_seeds()
    json_seeds()
    statement_seeds()
    if os.access(a.provlog, os.X_OK):
        server_seeds(a.provlog)
    else:
        print("warning: %s not found; skipping receipt/credential/submission seeds" % a.provlog, file=sys.stderr)
    for t in TARGETS:
        d = os.path.join(CORPUS, t)
        if os.path.isdir(d) and (t not in ("receipt", "credential_answer") or seeds[t]):
            shutil.rmtree(d)
        os.makedirs(d, exist_ok=True)
        for name, data in sorted(seeds[t].items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("%-18s %3d seeds" % (t, len(seeds[t])))


if __name__ == "__main__":
    main()
