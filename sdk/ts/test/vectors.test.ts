import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ALG_COSIGNATURE_V1,
  ALG_ED25519,
  ChainState,
  SignerKey,
  VerifierKey,
  approvalDigest,
  approvalMessage,
  b64decode,
  b64encode,
  bundlePath,
  canonicalString,
  concat,
  decodeBundle,
  encodeIndex,
  eventBytes,
  fromHex,
  hex,
  leafHash,
  openCheckpoint,
  parseLeaf,
  rootOf,
  signApproval,
  signSubmission,
  signingMessageV1,
  signingMessageV2,
  tilePath,
  utf8,
  verifiedEntries,
  verifyApproval,
  verifyConsistency,
  verifyCredentialAnswer,
  verifyReceipt,
  verifyRefusal,
  verifySubmission,
} from "../src/index.js";
import { throwsAny, vectors } from "./util.js";

const V = vectors("sdk_v1.json");
const LOG: string = V.log_vkey;
const key = (name: string): SignerKey => SignerKey.parse(V.keys.find((k: { name: string }) => k.name === name).skey);

describe("sdk_v1.json keys", () => {
  it("parses every key, derives its vkey, key ID and public key", () => {
    assert.equal(V.keys.length, 6);
    for (const k of V.keys) {
      const s = SignerKey.parse(k.skey);
      assert.equal(s.toString(), k.skey);
      assert.equal(s.name, k.name);
      assert.equal(s.alg, k.type === "ed25519" ? ALG_ED25519 : ALG_COSIGNATURE_V1);
      assert.equal(s.verifier().toString(), k.vkey);
      assert.equal(s.keyIdHex, k.key_id_hex);
      assert.equal(b64encode(s.publicKey), k.public_key_b64);
      const v = VerifierKey.parse(k.vkey);
      assert.equal(v.toString(), k.vkey);
      assert.equal(v.keyIdHex, k.key_id_hex);
    }
  });
  it("regenerates the keys from their seeds (log 0x11, ci 0x22, seq 0x33, witnesses 0x44..)", () => {
    const seeds: [string, number, number][] = [["sdk.example/log", 1, 0x11], ["ci", 1, 0x22], ["seq", 1, 0x33], ["witness.example/w1", 4, 0x44], ["witness.example/w2", 4, 0x45], ["witness.example/w3", 4, 0x46]];
    for (const [n, alg, seed] of seeds) {
      const k = new SignerKey(n, alg as 1 | 4, new Uint8Array(32).fill(seed));
      assert.equal(k.toString(), V.keys.find((x: { name: string }) => x.name === n).skey);
    }
  });
  it("refuses every bad vkey", () => {
    assert.ok(V.bad_vkeys.length >= 5);
    for (const b of V.bad_vkeys) assert.ok(throwsAny(() => VerifierKey.parse(b.vkey)), b.why);
  });
  it("refuses a well-formed vkey whose key ID is another key's", () => {
    // The vector's "key ID" case is also short (it was cut at the last '+'), so check the ID alone too.
    const ci = VerifierKey.parse(V.keys.find((k: { name: string }) => k.name === "ci").vkey);
    const wrong = `ci+${(ci.keyId ^ 1).toString(16).padStart(8, "0")}+${ci.toString().split("+").slice(2).join("+")}`;
    assert.ok(throwsAny(() => VerifierKey.parse(wrong)));
    assert.ok(throwsAny(() => VerifierKey.parse(`ci2+${ci.toString().split("+").slice(1).join("+")}`)));
  });
  it("splits at the first two '+' (base64 with '+')", () => {
    const ci = V.keys.find((k: { name: string }) => k.name === "ci").vkey as string;
    assert.ok(ci.split("+").length > 3, "the ci vkey's base64 holds a '+'");
    assert.equal(VerifierKey.parse(ci).name, "ci");
  });
  it("generates keys that round-trip", () => {
    const k = SignerKey.generate("gen.example/k");
    assert.equal(SignerKey.parse(k.toString()).toString(), k.toString());
    assert.ok(k.verifier().verify(utf8("m"), k.sign(utf8("m"))));
    assert.ok(!k.verifier().verify(utf8("n"), k.sign(utf8("m"))));
  });
});

describe("sdk_v1.json jcs", () => {
  it("canonicalizes each input as the Rust implementation does", () => {
    assert.equal(V.jcs.length, 6);
    for (const c of V.jcs) assert.equal(canonicalString(JSON.parse(c.input)), c.canonical, c.input);
  });
});

describe("sdk_v1.json events", () => {
  const ci = key("ci");
  it("reproduces canonical bytes, messages, signatures and submissions byte for byte", () => {
    assert.equal(V.events.length, 4);
    for (const e of V.events) {
      assert.equal(new TextDecoder().decode(eventBytes(e.event)), e.canonical);
      assert.equal(hex(signingMessageV1(e.event)), e.message_v1_hex);
      assert.equal(b64encode(ci.sign(signingMessageV1(e.event))), e.signature_v1);
      assert.equal(hex(signingMessageV2(e.event, e.origin)), e.message_v2_hex);
      assert.equal(b64encode(ci.sign(signingMessageV2(e.event, e.origin))), e.signature_v2);
      const sub = signSubmission(e.event, { submitter: e.submitter, key: ci, origin: e.origin });
      assert.deepEqual(sub, e.submission_v2);
      assert.ok(verifySubmission(sub, ci.verifier(), e.origin));
      assert.ok(!verifySubmission(sub, ci.verifier(), "other.example/log"));
      const v1 = signSubmission(e.event, { submitter: e.submitter, key: ci });
      assert.equal(v1.signature, e.signature_v1);
      assert.equal(v1.signature_version, undefined);
    }
  });
});

describe("sdk_v1.json receipts", () => {
  it("verifies the good receipts and refuses the tampered ones", () => {
    let good = 0;
    let bad = 0;
    for (const c of V.receipts) {
      if (c.expect.ok) {
        const r = verifyReceipt(c.receipt, LOG);
        assert.equal(r.index, c.expect.index);
        good++;
      } else {
        assert.ok(throwsAny(() => verifyReceipt(c.receipt, LOG)), c.why);
        bad++;
      }
    }
    assert.equal(good, 5);
    assert.equal(bad, 5);
  });
  it("checks the submitter's signature when asked", () => {
    const r = V.receipts[0].receipt;
    verifyReceipt(r, LOG, { submitterKey: key("ci").verifier() });
    assert.ok(throwsAny(() => verifyReceipt(r, LOG, { submitterKey: key("seq").verifier() })));
  });
  it("refuses a tlog-proof that disagrees with the JSON (the JSON alone being right)", () => {
    const r = V.receipts[0].receipt;
    const lines = (r.tlog_proof as string).split("\n");
    lines[2] = b64encode(new Uint8Array(32));
    assert.ok(throwsAny(() => verifyReceipt({ ...r, tlog_proof: lines.join("\n") }, LOG)));
    assert.ok(throwsAny(() => verifyReceipt({ ...r, tlog_proof: (r.tlog_proof as string).replace(`index ${r.index}`, `index ${r.index + 1}`) }, LOG)));
  });
  it("refuses a receipt under another log key", () => {
    assert.ok(throwsAny(() => verifyReceipt(V.receipts[0].receipt, key("ci").verifier())));
  });
});

describe("sdk_v1.json checkpoints and witnesses", () => {
  it("applies the k-of-n witness policy", () => {
    for (const c of V.checkpoints) {
      const f = (): unknown => openCheckpoint(c.note, LOG, { witnesses: c.witnesses, minWitnesses: c.min_witnesses });
      if (c.expect.ok) {
        const cp = openCheckpoint(c.note, LOG, { witnesses: c.witnesses, minWitnesses: c.min_witnesses });
        if (c.expect.cosigned !== undefined) assert.equal(cp.cosigned, c.expect.cosigned);
      } else assert.ok(throwsAny(f), c.why);
    }
    assert.equal(V.checkpoints.filter((c: { expect: { ok: boolean } }) => !c.expect.ok).length, 3);
  });
  it("verifies witnessed receipts", () => {
    for (const c of V.witnessed_receipts) {
      const f = (): unknown => verifyReceipt(c.receipt, LOG, { witnesses: c.witnesses, minWitnesses: c.min_witnesses });
      if (c.expect.ok) assert.equal(verifyReceipt(c.receipt, LOG, { witnesses: c.witnesses, minWitnesses: c.min_witnesses }).index, c.expect.index);
      else assert.ok(throwsAny(f));
    }
  });
});

describe("sdk_v1.json consistency", () => {
  it("verifies the log's proof and refuses the altered ones", () => {
    for (const c of V.consistency) {
      const f = (): void => verifyConsistency(c.old_size, c.new_size, b64decode(c.old_root), b64decode(c.new_root), c.proof.map((p: string) => b64decode(p)));
      if (c.expect.ok) f();
      else assert.ok(throwsAny(f), c.why);
    }
  });
  it("matches the checkpoint pair", () => {
    const o = openCheckpoint(V.checkpoint_pair.old, LOG);
    const n = openCheckpoint(V.checkpoint_pair.new, LOG);
    const c = V.consistency[0];
    assert.equal(o.size, c.old_size);
    assert.equal(n.size, c.new_size);
    assert.equal(b64encode(o.root), c.old_root);
    assert.equal(b64encode(n.root), c.new_root);
  });
});

describe("sdk_v1.json credential answers", () => {
  const { now_ms: now, max_age_ms: maxAge, cases } = V.credential_answers;
  it("verifies at now_ms, and a positive case fails a minute past max age", () => {
    let ok = 0;
    for (const c of cases) {
      const f = (at: number): unknown => verifyCredentialAnswer(c.answer, c.fingerprint, LOG, { nowMs: at, maxAgeMs: maxAge });
      if (c.expect.ok) {
        const v = verifyCredentialAnswer(c.answer, c.fingerprint, LOG, { nowMs: now, maxAgeMs: maxAge });
        assert.equal(v.state, c.expect.state);
        assert.ok(throwsAny(() => f(now + maxAge + 60_000)), "stale a minute past max age");
        // Historical: no freshness.
        verifyCredentialAnswer(c.answer, c.fingerprint, LOG, { nowMs: now + maxAge + 60_000, maxAgeMs: maxAge, asOfEntry: c.answer.commitment.index });
        ok++;
      } else assert.ok(throwsAny(() => f(now)), c.why);
    }
    assert.equal(ok, 5);
  });
  it("refuses a stated state that is not the record's (record intact)", () => {
    const c = cases[1];
    assert.equal(c.expect.state, "superseded");
    assert.ok(throwsAny(() => verifyCredentialAnswer({ ...c.answer, state: "active" }, c.fingerprint, LOG, { nowMs: now, maxAgeMs: maxAge })));
  });
});

describe("sdk_v1.json refusals", () => {
  it("verifies the refusal and refuses the forged ones", () => {
    for (const c of V.refusals) {
      const f = (): unknown => verifyRefusal(c.refusal, LOG, c.submission);
      if (c.expect.ok) {
        assert.equal(verifyRefusal(c.refusal, LOG, c.submission).refusal.code, c.expect.code);
        assert.equal(verifyRefusal({ error: c.error }, LOG).refusal.code, c.expect.code);
      } else assert.ok(throwsAny(f), c.why);
    }
  });
});

describe("sdk_v1.json chain", () => {
  it("links each prev to the previous receipt's leaf hash, from the registered head", () => {
    const ch = V.chain;
    const state = new ChainState(ch.submitter, 0, ch.registered_head);
    for (const [n, e] of ch.entries.entries()) {
      assert.deepEqual(state.next(), { seq: n + 1, prev: e.submission.event.prev });
      assert.equal(e.submission.event.seq, n + 1);
      state.advance(e.receipt, LOG);
      assert.equal(state.head, e.receipt.leaf_hash);
    }
    assert.equal(state.seq, 2);
  });
  it("refuses a receipt that is not the next link", () => {
    const ch = V.chain;
    const state = new ChainState(ch.submitter, 0, ch.registered_head);
    assert.ok(throwsAny(() => state.advance(ch.entries[1].receipt, LOG)));
  });
  it("signs the chain events byte for byte", () => {
    for (const e of V.chain.entries) {
      assert.deepEqual(signSubmission(e.submission.event, { submitter: "seq", key: key("seq"), origin: V.origin }), e.submission);
    }
  });
});

describe("sdk_v1.json tiles", () => {
  const t = V.tiles;
  const cp = openCheckpoint(t.checkpoint, LOG);
  const bundle = b64decode(t.bundle_000);
  const tile = b64decode(t.tile_0_000);
  it("the level-0 tile holds the bundle's leaf hashes, which make the root", () => {
    assert.equal(cp.size, t.size);
    const entries = decodeBundle(bundle, cp.size);
    const leaves = entries.map(leafHash);
    assert.deepEqual(concat(...leaves), tile);
    assert.deepEqual(rootOf(leaves), cp.root);
    for (const e of entries) parseLeaf(e);
    assert.ok(throwsAny(() => decodeBundle(bundle, cp.size - 1)));
  });
  const serve = (b: Uint8Array, tl: Uint8Array) => async (path: string): Promise<Uint8Array | null> =>
    path === bundlePath(0, t.size) ? b : path === tilePath(0, 0, t.size) ? tl : null;
  it("the iterator yields every entry, verified", async () => {
    const got = [];
    for await (const e of verifiedEntries(serve(bundle, tile), cp)) got.push(e.index);
    assert.deepEqual(got, [...Array(t.size).keys()]);
    const from5 = [];
    for await (const e of verifiedEntries(serve(bundle, tile), cp, 5)) from5.push(e.index);
    assert.equal(from5[0], 5);
  });
  it("the iterator refuses a changed bundle", async () => {
    const b = Uint8Array.from(bundle);
    b[40] = (b[40] as number) ^ 1;
    await assert.rejects(async () => {
      for await (const _ of verifiedEntries(serve(b, tile), cp)) void _;
    });
  });
  it("encodes tile paths", () => {
    assert.equal(encodeIndex(0), "000");
    assert.equal(encodeIndex(1234067), "x001/x234/067");
    assert.equal(tilePath(0, 273, 112), "tile/0/273.p/112");
    assert.equal(bundlePath(1000), "tile/entries/x001/000");
  });
});

describe("event_signature_v2.json", () => {
  const v = vectors("event_signature_v2.json");
  const k = new SignerKey(v.submitter, ALG_ED25519, fromHex(v.seed_hex));
  it("reproduces JCS, v1 and v2 messages and signatures, and the v2 leaf", () => {
    assert.equal(hex(k.publicKey), v.public_key_hex);
    assert.equal(new TextDecoder().decode(eventBytes(v.event)), v.event_jcs);
    assert.equal(hex(signingMessageV1(v.event)), v.message_v1_hex);
    assert.equal(b64encode(k.sign(signingMessageV1(v.event))), v.signature_v1);
    for (const c of v.cases) {
      assert.equal(hex(signingMessageV2(v.event, c.origin)), c.message_v2_hex);
      assert.equal(signSubmission(v.event, { submitter: v.submitter, key: k, origin: c.origin }).signature, c.signature_v2);
    }
    const leaf = parseLeaf(utf8(v.leaf_v2.bytes)) as { v: number; signature: string };
    assert.equal(leaf.v, 2);
    assert.equal(leaf.signature, v.cases[0].signature_v2);
  });
});

describe("approval_v1.json", () => {
  const v = vectors("approval_v1.json");
  const k = new SignerKey(v.approval.approver, ALG_ED25519, fromHex(v.seed_hex));
  it("reproduces JCS, digest, messages, signatures and the signed approval", () => {
    assert.equal(hex(k.publicKey), v.public_key_hex);
    assert.equal(canonicalString(v.approval), v.approval_jcs);
    assert.equal(hex(approvalDigest(v.approval)), v.digest_hex);
    for (const c of v.cases) {
      assert.equal(hex(approvalMessage(v.approval, c.origin)), c.message_hex);
      const s = signApproval(v.approval, k, c.origin);
      assert.equal(s.signature, c.signature);
      assert.ok(verifyApproval(s, k.verifier(), c.origin));
    }
    assert.ok(!verifyApproval(signApproval(v.approval, k, v.cases[0].origin), k.verifier(), v.cases[1].origin));
    assert.equal(canonicalString(signApproval(v.approval, k, v.cases[0].origin)), v.signed_jcs);
    const leaf = parseLeaf(utf8(v.leaf.bytes)) as { approvals: unknown[] };
    assert.equal(leaf.approvals.length, 1);
    const sub = signSubmission(JSON.parse(v.leaf.bytes).event, { submitter: "ci", key: k, origin: v.cases[0].origin, approvals: [signApproval(v.approval, k, v.cases[0].origin)] });
    assert.equal(canonicalString(sub.approvals), canonicalString(leaf.approvals));
  });
});
