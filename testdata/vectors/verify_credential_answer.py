#!/usr/bin/env python3
"""An independent verifier of provlog credential answers, written from
docs/MAP.md "Verifying an answer" (and DESIGN.md for checkpoints and
keys), with nothing but the Python standard library: Ed25519 is the
RFC 8032 section 6 reference algorithm, the map proof is map_v1_model.py's.

    verify_credential_answer.py ANSWER.json FINGERPRINT LOG_VKEY NOW_MS MAX_AGE_MS [AS_OF_ENTRY]

With AS_OF_ENTRY the question is historical (docs/MAP.md "Historical
answers"): was the credential in this state when that entry was logged?
The commitment must be at or before it, freshness is not asked, and
expiry is judged at the commitment's logged_at. It

prints {"ok": true, "state": "...", "commitment": N} or
{"ok": false, "reason": "..."} and exits 0 either way (1 on bad usage).
"""
import base64, hashlib, json, os, re, sys
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import map_v1_model as mapv1  # noqa: E402

H = lambda b: hashlib.sha256(b).digest()


class Fail(Exception):
    pass


# --- Ed25519 verification, RFC 8032 section 6 -------------------------------
P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    A, B = (a[1] - a[0]) * (b[1] - b[0]) % P, (a[1] + a[0]) * (b[1] + b[0]) % P
    C, Dd = 2 * a[3] * b[3] * D % P, 2 * a[2] * b[2] % P
    E, F, G, Hh = B - A, Dd - C, Dd + C, B + A
    return (E * F % P, G * Hh % P, F * G % P, E * Hh % P)


def _mul(s, p):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, p)
        p = _add(p, p)
        s >>= 1
    return q


def _eq(p, q):
    return (p[0] * q[2] - q[0] * p[2]) % P == 0 and (p[1] * q[2] - q[1] * p[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decompress(s):
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


G_Y = 4 * pow(5, P - 2, P) % P
G = (_recover_x(G_Y, 0), G_Y, 1, _recover_x(G_Y, 0) * G_Y % P)


def ed25519_verify(pub, msg, sig):
    if len(pub) != 32 or len(sig) != 64:
        return False
    A, R = _decompress(pub), _decompress(sig[:32])
    if A is None or R is None:
        return False
    s = int.from_bytes(sig[32:], "little")
    if s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(sig[:32] + pub + msg).digest(), "little") % L
    return _eq(_mul(s, G), _add(R, _mul(h, A)))


# --- encodings --------------------------------------------------------------
def b64(s, what, n=None):
    try:
        out = base64.b64decode(s, validate=True)
    except Exception:
        raise Fail(f"{what} is not base64")
    if n is not None and len(out) != n:
        raise Fail(f"{what} is {len(out)} bytes, not {n}")
    return out


def jcs(v):
    # RFC 8785 for what these objects hold: strings, integers, objects.
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


LOGGED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")
MAX_CLOCK_SKEW_MS = 5000


def millis(t):
    if not isinstance(t, str) or not RFC3339.match(t):
        raise Fail(f"not an RFC 3339 time: {t!r}")
    return int(datetime.fromisoformat(t.replace("Z", "+00:00")).astimezone(timezone.utc).timestamp() * 1000)


def uint(x, what):
    if type(x) is not int or x < 0:
        raise Fail(f"{what} is not an unsigned integer")
    return x


# --- C2SP signed note / checkpoint ------------------------------------------
def open_checkpoint(text, vkey):
    name, keyhash, key = vkey.split("+", 2)
    raw = b64(key, "log key")
    if len(raw) != 33 or raw[0] != 1:
        raise Fail("the log key is not Ed25519")
    if H(name.encode() + b"\n" + raw)[:4].hex() != keyhash:
        raise Fail("the log key hash does not match")
    body, sep, sigs = text.partition("\n\n")
    if not sep or not text.endswith("\n"):
        raise Fail("the checkpoint is not a signed note")
    body += "\n"
    lines = body[:-1].split("\n")
    if lines[0] != name:
        raise Fail("the checkpoint is for another origin")
    ok = False
    for line in sigs[:-1].split("\n"):
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != "\u2014":
            raise Fail("malformed signature line")
        s = b64(parts[2], "signature")
        if parts[1] == name and s[:4].hex() == keyhash:
            if not ed25519_verify(raw[1:], body.encode(), s[4:]):
                raise Fail("the checkpoint signature does not verify")
            ok = True
    if not ok:
        raise Fail("no signature by the log key")
    return int(lines[1]), b64(lines[2], "root", 32)


# --- RFC 9162 inclusion -----------------------------------------------------
def inclusion_root(index, size, leaf, proof):
    if index >= size:
        raise Fail("index beyond the tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise Fail("inclusion proof too long")
        if fn & 1 or fn == sn:
            r = H(b"\x01" + p + r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = H(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Fail("inclusion proof too short")
    return r


def verify(answer, fingerprint, vkey, now_ms, max_age_ms, as_of=None):
    # Steps of docs/MAP.md "Verifying an answer". Not implemented here:
    # witness cosignatures (step 2's second half) and history items
    # (step 7): an answer with a history is refused rather than half checked.
    if not FINGERPRINT.match(fingerprint) or answer.get("fingerprint") != fingerprint:
        raise Fail("the answer is about another credential")
    if answer.get("history"):
        raise Fail("answers with a history are not checked by this verifier")
    if "next_after" in answer:
        raise Fail("a page of a longer history")
    size, root = open_checkpoint(answer["checkpoint"], vkey)
    c = answer["commitment"]
    entry = b64(c["entry"], "commitment entry")
    proof = [b64(p, "proof hash", 32) for p in c["proof"]]
    if inclusion_root(uint(c["index"], "index"), size, H(b"\x00" + entry), proof) != root:
        raise Fail("the commitment is not included in the checkpoint")
    leaf = json.loads(entry)
    if jcs(leaf) != entry:
        raise Fail("the commitment leaf is not canonical")
    if sorted(leaf) != ["credentials", "kind", "logged_at", "map_root", "size", "v"]:
        raise Fail("not a state leaf")
    if leaf["kind"] != "state" or uint(leaf["v"], "v") != 1 or uint(leaf["size"], "size") != c["index"]:
        raise Fail("not a state leaf covering the entries before it")
    uint(leaf["credentials"], "credentials")
    if not isinstance(leaf["logged_at"], str) or not LOGGED_AT.match(leaf["logged_at"]):
        raise Fail("logged_at is not YYYY-MM-DDTHH:MM:SS.mmmZ")
    committed_at = millis(leaf["logged_at"])
    if as_of is None:
        age = now_ms - committed_at
        if age > max_age_ms or age < -min(MAX_CLOCK_SKEW_MS, max_age_ms):
            raise Fail("stale: the commitment is older than the maximum age (or ahead of this clock)")
    elif c["index"] > as_of:
        raise Fail("the commitment is after the entry the question is about")
    rec = answer.get("record")
    key = H(b"provlog/credential-key/v1\n" + fingerprint.encode())
    value = None
    if rec is not None:
        if rec["fingerprint"] != fingerprint or uint(rec["last_index"], "last_index") >= c["index"]:
            raise Fail("the record does not fit the answer")
        if uint(rec["version"], "version") >= 2**53 or rec["last_index"] >= 2**53:
            raise Fail("version or last_index beyond 2^53")
        if "not_after" in rec:
            millis(rec["not_after"])
        value = H(b"provlog/credential-record/v1\n" + jcs(rec))
    if not mapv1.verify(b64(leaf["map_root"], "map root", 32), key, value, b64(answer["map_proof"], "map proof")):
        raise Fail("the map proof does not verify")
    committed = rec["state"] if rec else "unknown"
    if answer["state"] != committed:
        raise Fail("the stated state is not the record's")
    state = committed
    judged_at = now_ms if as_of is None else committed_at
    if state == "active" and rec.get("not_after") and millis(rec["not_after"]) <= judged_at:
        state = "expired"
    return state, c["index"]


def main():
    if len(sys.argv) not in (6, 7):
        print(__doc__, file=sys.stderr)
        sys.exit(1)
    with open(sys.argv[1], encoding="utf-8") as f:
        answer = json.load(f)
    try:
        as_of = uint(int(sys.argv[6]), "AS_OF_ENTRY") if len(sys.argv) == 7 else None
        state, index = verify(answer, sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), as_of)
        print(json.dumps({"ok": True, "state": state, "commitment": index}))
    except (Fail, KeyError, TypeError, ValueError) as e:
        print(json.dumps({"ok": False, "reason": str(e)}))


if __name__ == "__main__":
    main()
