"""The cross-language vectors: testdata/vectors/sdk_v1.json (from tests/it/sdk_vectors.rs) and others."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

import provlog
from conftest import load_vectors
from provlog import tiles
from provlog.credentials import credential_key, credential_value
from provlog.merkle import leaf_hash, root_from_leaf_hashes


def b64(s: str) -> bytes:
    return base64.b64decode(s)


# --- keys -----------------------------------------------------------------


def test_keys(sdk_vectors: Any) -> None:
    assert len(sdk_vectors["keys"]) == 6
    for k in sdk_vectors["keys"]:
        s = provlog.SignerKey.parse(k["skey"])
        v = provlog.VerifierKey.parse(k["vkey"])
        assert s.name == v.name == k["name"]
        assert s.verifier() == v
        assert s.verifier().to_vkey_string() == k["vkey"]
        assert s.to_skey_string() == k["skey"]
        assert v.key_id_hex == k["key_id_hex"]
        assert v.public_key == b64(k["public_key_b64"])
        alg = {"ed25519": provlog.ALG_ED25519, "cosignature/v1": provlog.ALG_COSIGNATURE_V1}[k["type"]]
        assert v.alg == alg
        again = provlog.SignerKey(k["name"], alg, s.seed)
        assert again.to_skey_string() == k["skey"]


@pytest.mark.parametrize("case", load_vectors("sdk_v1.json")["bad_vkeys"], ids=lambda c: c["why"])
def test_bad_vkeys_are_refused(case: Any) -> None:
    with pytest.raises(provlog.FormatError):
        provlog.VerifierKey.parse(case["vkey"])


def test_a_wrong_key_id_is_refused(sdk_vectors: Any) -> None:
    # The vector's "key ID" case splits the vkey at its last '+' (inside the
    # base64), so it fails on the base64; this is the case it means.
    good = next(k["vkey"] for k in sdk_vectors["keys"] if k["name"] == "ci")
    name, _, blob = good.split("+", 2)
    with pytest.raises(provlog.FormatError, match="key ID"):
        provlog.VerifierKey.parse(f"{name}+00000000+{blob}")
    with pytest.raises(provlog.FormatError, match="key ID"):
        provlog.VerifierKey.parse(f"other+{good.split('+', 2)[1]}+{blob}")


def test_generated_keys_round_trip() -> None:
    for alg in (provlog.ALG_ED25519, provlog.ALG_COSIGNATURE_V1):
        k = provlog.SignerKey.generate("example.com/x", alg)
        assert provlog.SignerKey.parse(k.to_skey_string()).to_skey_string() == k.to_skey_string()
        v = provlog.VerifierKey.parse(k.verifier().to_vkey_string())
        assert v.verify(b"m", k.sign(b"m")) and not v.verify(b"n", k.sign(b"m"))


def test_signed_note_vectors() -> None:
    v = load_vectors("signed_note.json")
    text = json.dumps(v)
    assert "PeterNeumann" in text
    k = provlog.VerifierKey.parse("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    assert k.key_id_hex == "c74f20a3"
    s = provlog.SignerKey.parse("PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")
    assert s.verifier() == k


# --- canonical JSON, events, approvals ------------------------------------


def test_jcs(sdk_vectors: Any) -> None:
    assert len(sdk_vectors["jcs"]) == 6
    for c in sdk_vectors["jcs"]:
        assert provlog.canonicalize(json.loads(c["input"])).decode("utf-8") == c["canonical"], c["input"]


def test_events(sdk_vectors: Any) -> None:
    ci = provlog.SignerKey.parse(next(k["skey"] for k in sdk_vectors["keys"] if k["name"] == "ci"))
    assert len(sdk_vectors["events"]) == 4
    for c in sdk_vectors["events"]:
        e = c["event"]
        assert provlog.canonical_event(e).decode("utf-8") == c["canonical"]
        m1 = provlog.signing_message_v1(e)
        m2 = provlog.signing_message_v2(c["origin"], e)
        assert m1.hex() == c["message_v1_hex"]
        assert m2.hex() == c["message_v2_hex"]
        assert base64.b64encode(ci.sign(m1)).decode() == c["signature_v1"]
        assert base64.b64encode(ci.sign(m2)).decode() == c["signature_v2"]
        sub = provlog.sign_submission(e, c["submitter"], ci, c["origin"])
        assert sub == c["submission_v2"]
        assert provlog.verify_submission_signature(sub, ci.verifier(), c["origin"])
        assert not provlog.verify_submission_signature(sub, ci.verifier(), "other.example/log")


def test_event_builder_makes_the_vector_events(sdk_vectors: Any) -> None:
    fp = "sha256:" + "b" * 64
    ev = provlog.Event(
        event_id="sdk-rotate-1",
        occurred_at="2026-12-04T10:05:00Z",
        action=provlog.Action.ROTATE,
        actor=provlog.Actor("wf/rotate", "workflow"),
        target=provlog.Target("svc-payments", "service_account", "gcp"),
        credential=provlog.Credential(fp, previous_fingerprint="sha256:" + "a" * 64, not_after="2099-01-01T00:00:00Z"),
    )
    assert ev.to_json() == sdk_vectors["events"][1]["event"]
    assert provlog.canonical_event(ev).decode() == sdk_vectors["events"][1]["canonical"]
    ev1 = provlog.Event(
        event_id="sdk-issue-1",
        occurred_at="2026-12-04T10:00:00Z",
        action=provlog.Action.ISSUE,
        actor=provlog.Actor("github-actions/onboard", "workflow"),
        target=provlog.Target("svc-payments", "service_account", "gcp"),
        authority=provlog.Authority(approval_id="CHG-1", approved_by="alice@example.com"),
        decision=provlog.Decision("allow", policy_id="onboarding"),
        credential=provlog.Credential("sha256:" + "a" * 64, not_after="2099-01-01T00:00:00Z"),
        details={"ticket": "OPS-1", "note": "caf\u00e9 \U0001f600"},
    )
    assert ev1.to_json() == sdk_vectors["events"][0]["event"]
    with pytest.raises(provlog.FormatError):
        provlog.Event("x", "t", "issue", provlog.Actor("a", "b"), provlog.Target("c", "d"), seq=1).to_json()


def test_event_signature_v2_vectors() -> None:
    v = load_vectors("event_signature_v2.json")
    key = provlog.SignerKey("ci", provlog.ALG_ED25519, bytes.fromhex(v["seed_hex"]))
    assert key.public_key.hex() == v["public_key_hex"]
    assert provlog.canonical_event(v["event"]).decode() == v["event_jcs"]
    m1 = provlog.signing_message_v1(v["event"])
    assert m1.hex() == v["message_v1_hex"]
    assert base64.b64encode(key.sign(m1)).decode() == v["signature_v1"]
    for c in v["cases"]:
        m2 = provlog.signing_message_v2(c["origin"], v["event"])
        assert m2.hex() == c["message_v2_hex"]
        assert base64.b64encode(key.sign(m2)).decode() == c["signature_v2"]
        sub = provlog.sign_submission(v["event"], "ci", key, c["origin"])
        assert sub["signature"] == c["signature_v2"] and sub["signature_version"] == 2


def test_approval_vectors() -> None:
    v = load_vectors("approval_v1.json")
    key = provlog.SignerKey("alice", provlog.ALG_ED25519, bytes.fromhex(v["seed_hex"]))
    assert key.public_key.hex() == v["public_key_hex"]
    a = v["approval"]
    built = provlog.Approval(
        id=a["id"], approver=a["approver"], submitter=a["submitter"], actor=a["actor"], actions=a["actions"],
        target=a["target"], system=a["system"], fingerprint=a["fingerprint"], not_before=a["not_before"],
        not_after=a["not_after"], max_uses=a["max_uses"], refs=a["refs"],
    )
    assert built.to_json() == a
    assert provlog.canonicalize(a).decode() == v["approval_jcs"]
    assert provlog.approval_digest(built).hex() == v["digest_hex"]
    for c in v["cases"]:
        assert provlog.approval_message(c["origin"], built).hex() == c["message_hex"]
        signed = provlog.sign_approval(built, key, c["origin"])
        assert signed["signature"] == c["signature"]
    signed = provlog.sign_approval(a, key, v["cases"][0]["origin"])
    assert provlog.canonicalize(signed).decode() == v["signed_jcs"]
    # The event leaf that logs it carries exactly this signed approval.
    leaf = provlog.parse_leaf(v["leaf"]["bytes"].encode())
    assert leaf["approvals"] == [signed] and leaf["logged_at"] == v["leaf"]["logged_at"]
    assert leaf["signature"] == v["leaf"]["event_signature"]
    # A submission carries it; an empty list is refused.
    ev = {"event_id": "e", "occurred_at": "2026-12-01T10:00:00Z", "action": "revoke"}
    ci = provlog.SignerKey.generate("ci")
    sub = provlog.sign_submission(ev, "ci", ci, "example.com/log-a", approvals=[signed])
    assert sub["approvals"] == [signed]
    with pytest.raises(provlog.FormatError):
        provlog.sign_submission(ev, "ci", ci, "example.com/log-a", approvals=[])


# --- receipts, checkpoints, consistency ------------------------------------


def _log(v: Any) -> provlog.VerifierKey:
    return provlog.VerifierKey.parse(v["log_vkey"])


def test_receipts(sdk_vectors: Any) -> None:
    log = _log(sdk_vectors)
    oks = fails = 0
    for c in sdk_vectors["receipts"]:
        if c["expect"]["ok"]:
            r = provlog.verify_receipt(c["receipt"], log)
            assert r.index == c["expect"]["index"]
            assert r.leaf_hash_b64 == c["receipt"]["leaf_hash"]
            oks += 1
        else:
            with pytest.raises(provlog.VerificationError):
                provlog.verify_receipt(c["receipt"], log)
            fails += 1
    # Five good receipts (one of a SCITT statement), five tampered ones.
    assert (oks, fails) == (5, 5)
    # With the log key string, too; and under another key nothing verifies.
    provlog.verify_receipt(sdk_vectors["receipts"][0]["receipt"], sdk_vectors["log_vkey"])
    ci = next(k["vkey"] for k in sdk_vectors["keys"] if k["name"] == "ci")
    with pytest.raises(provlog.VerificationError):
        provlog.verify_receipt(sdk_vectors["receipts"][0]["receipt"], ci)


def test_checkpoints(sdk_vectors: Any) -> None:
    log = _log(sdk_vectors)
    for c in sdk_vectors["checkpoints"]:
        ws = [provlog.VerifierKey.parse(w) for w in c["witnesses"]]

        def check(c: Any = c, ws: Any = ws) -> int:
            provlog.open_checkpoint(c["note"], log)
            return provlog.require_cosignatures(c["note"], ws, c["min_witnesses"])

        if c["expect"]["ok"]:
            got = check()
            assert got == c["expect"].get("cosigned", 0)
        else:
            with pytest.raises(provlog.VerificationError):
                check()


def test_cosign_reproduces_the_witness_lines(sdk_vectors: Any) -> None:
    two = sdk_vectors["checkpoints"][1]["note"]
    note = provlog.Note.parse(two)
    wkeys = [provlog.SignerKey.parse(k["skey"]) for k in sdk_vectors["keys"] if k["type"] == "cosignature/v1"]
    for line, k in zip(note.signatures[1:], wkeys[:2], strict=True):
        ts = int.from_bytes(line.signature[:8], "big")
        assert ts == 1_796_378_400
        assert provlog.cosign(k, note.text, ts) == line
    assert note.to_string() == two


def test_witnessed_receipts(sdk_vectors: Any) -> None:
    log = _log(sdk_vectors)
    for c in sdk_vectors["witnessed_receipts"]:
        kw = {"witnesses": c["witnesses"], "min_witnesses": c["min_witnesses"]}
        if c["expect"]["ok"]:
            r = provlog.verify_receipt(c["receipt"], log, **kw)
            assert r.index == c["expect"]["index"] and r.cosigned == 2
        else:
            with pytest.raises(provlog.VerificationError):
                provlog.verify_receipt(c["receipt"], log, **kw)


def test_consistency(sdk_vectors: Any) -> None:
    for c in sdk_vectors["consistency"]:
        args = (c["old_size"], c["new_size"], b64(c["old_root"]), b64(c["new_root"]), [b64(p) for p in c["proof"]])
        if c["expect"]["ok"]:
            provlog.verify_consistency(*args)
        else:
            with pytest.raises(provlog.VerificationError):
                provlog.verify_consistency(*args)
    pair = sdk_vectors["checkpoint_pair"]
    log = _log(sdk_vectors)
    old, new = provlog.open_checkpoint(pair["old"], log), provlog.open_checkpoint(pair["new"], log)
    first = sdk_vectors["consistency"][0]
    assert (old.size, new.size) == (first["old_size"], first["new_size"])


def test_merkle_reference_vectors() -> None:
    v = load_vectors("merkle_verify_probes.json")
    n = 0
    for group in ("inclusion", "consistency"):
        for c in v.get(group, []):
            n += 1
            try:
                if group == "inclusion":
                    provlog.verify_inclusion(
                        c["leafIdx"], c["treeSize"], b64(c["leafHash"] or ""), [b64(p) for p in c["proof"] or []],
                        b64(c["root"] or ""),
                    )
                else:
                    if c["size1"] == 0:
                        raise provlog.VerificationError("size1 == 0 is an error in these probes")
                    provlog.verify_consistency(
                        c["size1"], c["size2"], b64(c["root1"] or ""), b64(c["root2"] or ""),
                        [b64(p) for p in c["proof"] or []],
                    )
                ok = True
            except provlog.VerificationError:
                ok = False
            assert ok != c["wantErr"], c
    assert n > 100


# --- credential answers, refusals, chain, tiles -----------------------------


def test_credential_answers(sdk_vectors: Any) -> None:
    log = _log(sdk_vectors)
    ca = sdk_vectors["credential_answers"]
    now, max_age = ca["now_ms"], ca["max_age_ms"]
    oks = fails = 0
    for c in ca["cases"]:
        if c["expect"]["ok"]:
            s = provlog.verify_credential_answer(c["answer"], c["fingerprint"], log, now=now, max_age_ms=max_age)
            assert s.state == c["expect"]["state"]
            with pytest.raises(provlog.VerificationError, match="stale"):
                provlog.verify_credential_answer(
                    c["answer"], c["fingerprint"], log, now=now + max_age + 60_000, max_age_ms=max_age
                )
            with pytest.raises(provlog.VerificationError, match="ahead"):
                provlog.verify_credential_answer(c["answer"], c["fingerprint"], log, now=now - 3_600_000)
            # A historical question does not go stale.
            idx = c["answer"]["commitment"]["index"]
            h = provlog.verify_credential_answer(
                c["answer"], c["fingerprint"], log, now=now + 10**9, as_of_entry=idx
            )
            assert h.state == c["expect"]["state"]
            with pytest.raises(provlog.VerificationError):
                provlog.verify_credential_answer(c["answer"], c["fingerprint"], log, now=now, as_of_entry=idx - 1)
            oks += 1
        else:
            with pytest.raises(provlog.VerificationError):
                provlog.verify_credential_answer(c["answer"], c["fingerprint"], log, now=now, max_age_ms=max_age)
            fails += 1
    assert (oks, fails) == (5, 3)


def test_credential_answer_v1_vectors() -> None:
    v = load_vectors("credential_answer_v1.json")
    cases = v["cases"]
    assert cases
    for c in cases:
        kw: dict[str, Any] = {"now": v["now_ms"], "max_age_ms": v["max_age_ms"]}
        if "as_of_entry" in c:
            kw["as_of_entry"] = c["as_of_entry"]
        if c["expect"]["ok"]:
            s = provlog.verify_credential_answer(c["answer"], c["fingerprint"], v["log_vkey"], **kw)
            assert s.state == c["expect"]["state"], c.get("name")
        else:
            with pytest.raises(provlog.VerificationError):
                provlog.verify_credential_answer(c["answer"], c["fingerprint"], v["log_vkey"], **kw)


def test_map_vectors() -> None:
    v = load_vectors("map_v1.json")
    n = 0
    for m in v["valid"]:
        for p in m["proofs"]:
            val = b64(p["value"]) if p["value"] else None
            assert provlog.verify_map_proof(b64(m["root"]), b64(p["key"]), val, b64(p["proof"]))
            n += 1
    for p in v["invalid"]:
        val = b64(p["value"]) if p["value"] else None
        assert not provlog.verify_map_proof(b64(p["root"]), b64(p["key"]), val, b64(p["proof"])), p["why"]
    assert n > 40
    rec = json.loads(
        '{"fingerprint":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","issued_by":"db-team",'
        '"last_index":1,"not_after":"2027-02-23T10:00:00Z","owner":{"id":"db-main","system":"gcp",'
        '"type":"service_account"},"state":"active","v":1,"version":1}'
    )
    key = base64.b64encode(credential_key(rec["fingerprint"])).decode()
    assert key == "sHFClg44FT0jCmnRdX7E5ZkQJVPp5N2z0HTXEYCl7j8="
    assert base64.b64encode(credential_value(rec)).decode() == "yLgvZ74sVK+y14P3Go2dCgFyr27jCEwPDpE0y+dd6ZM="


def test_refusals(sdk_vectors: Any) -> None:
    log = _log(sdk_vectors)
    for c in sdk_vectors["refusals"]:
        if c["expect"]["ok"]:
            r = provlog.verify_refusal(c["refusal"], log, c["submission"])
            assert r.code == c["expect"]["code"]
            # The whole error body works too.
            assert provlog.verify_refusal({"error": c["error"]}, log, c["submission"]).code == r.code
        else:
            with pytest.raises(provlog.VerificationError):
                provlog.verify_refusal(c["refusal"], log, c["submission"])


def test_chain(sdk_vectors: Any) -> None:
    log = _log(sdk_vectors)
    ch = sdk_vectors["chain"]
    seq = provlog.SignerKey.parse(next(k["skey"] for k in sdk_vectors["keys"] if k["name"] == "seq"))
    state = provlog.ChainState(ch["submitter"], 0, ch["registered_head"])
    for e in ch["entries"]:
        sub = e["submission"]
        n, prev = state.next()
        assert (n, prev) == (e["seq"], sub["event"]["prev"])
        ev = dict(sub["event"])
        del ev["seq"], ev["prev"]
        ev = state.sequence(ev)
        assert ev == sub["event"]
        assert provlog.sign_submission(ev, "seq", seq, sdk_vectors["origin"]) == sub
        r = provlog.verify_receipt(e["receipt"], log)
        state.advance(e["receipt"])
        assert state.head == r.leaf_hash_b64 == e["receipt"]["leaf_hash"]
    assert state.seq == 2
    with pytest.raises(provlog.VerificationError):
        state.advance(ch["entries"][0]["receipt"])


def test_tiles(sdk_vectors: Any) -> None:
    t = sdk_vectors["tiles"]
    cp = provlog.open_checkpoint(t["checkpoint"], _log(sdk_vectors))
    assert cp.size == t["size"]
    entries = tiles.decode_bundle(b64(t["bundle_000"]), cp.size)
    assert tiles.encode_bundle(entries) == b64(t["bundle_000"])
    leaves = [leaf_hash(e) for e in entries]
    tile = b64(t["tile_0_000"])
    assert tile == b"".join(leaves)
    assert root_from_leaf_hashes(leaves) == cp.root
    for e in entries:
        provlog.parse_leaf(e)
    # Part of the tree from the bundle, the rest from the tile.
    hashes = tiles.TileHashes(cp.size, lambda level, index, width: tile[: 32 * width])
    assert tiles.root_with_leaves(cp.size, {i: leaves[i] for i in range(5, 9)}, hashes) == cp.root
    bad = dict(enumerate(leaves))
    bad[3] = leaf_hash(b"other")
    assert tiles.root_with_leaves(cp.size, bad, None) != cp.root
    with pytest.raises(provlog.FormatError):
        tiles.decode_bundle(b64(t["bundle_000"]), cp.size - 1)


def test_tile_paths() -> None:
    v = load_vectors("tlog_tile_paths.json")
    assert tiles.encode_index(0) == "000"
    assert tiles.encode_index(1234067) == "x001/x234/067"
    assert tiles.tile_path(15, 123456789, 41) == "tile/15/x123/x456/789.p/41"
    assert tiles.bundle_path(0, 8) == "tile/entries/000.p/8"
    assert v


def test_small_tile_vectors() -> None:
    v = load_vectors("tlog_tiles_small.json")
    assert v
