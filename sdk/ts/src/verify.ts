/**
 * Offline verification: receipts (C2SP tlog-proof + entry), credential
 * answers (docs/MAP.md "Verifying an answer"), chain answers
 * (docs/CHAINS.md), signed refusals (docs/REFUSALS.md).
 * @module
 */
import { b64decode, b64encode, equal, sha256, utf8 } from "./bytes.js";
import { VerificationError, type SignedRefusal } from "./errors.js";
import { signingMessageV1, signingMessageV2, type Submission } from "./event.js";
import { canonicalBytes } from "./jcs.js";
import { VerifierKey } from "./keys.js";
import { type EventLeaf, type Leaf, type StateLeaf, parseLeaf, parseMillis, parseStateLeaf } from "./leaf.js";
import { chainKey, chainValue, credentialKey, credentialValue, verifyMapProof } from "./map.js";
import { leafHash, verifyInclusion } from "./merkle.js";
import { asKey, openCheckpoint, type VerifiedCheckpoint, type WitnessPolicy } from "./note.js";

/** A receipt as `POST /v1/entries` answers it. */
export interface Receipt {
  /** The entry's index. */
  index: number;
  /** Base64 leaf hash. */
  leaf_hash: string;
  /** Base64 entry bytes. */
  entry: string;
  /** The checkpoint note. */
  checkpoint: string;
  /** Base64 proof hashes, leaf side first. */
  inclusion_proof: string[];
  /** The same as a C2SP tlog-proof text. */
  tlog_proof: string;
}

/** A parsed C2SP tlog-proof. */
export interface TlogProof {
  /** The `extra` data, if any (not authenticated). */
  extra?: Uint8Array;
  /** The index. */
  index: number;
  /** Proof hashes. */
  proof: Uint8Array[];
  /** The checkpoint note verbatim. */
  checkpoint: string;
}

function fail(msg: string): never {
  throw new VerificationError(msg);
}

function dec(s: unknown, what: string, len?: number): Uint8Array {
  if (typeof s !== "string") fail(`${what} is missing`);
  try {
    return b64decode(s, len, what);
  } catch (e) {
    return fail((e as Error).message);
  }
}

function uint(x: unknown, what: string): number {
  if (typeof x !== "number" || !Number.isSafeInteger(x) || x < 0) fail(`${what} is not an unsigned integer`);
  return x;
}

/**
 * Parses a C2SP tlog-proof text (`c2sp.org/tlog-proof@v1`, optional
 * `extra`, `index`, proof lines, a blank line, the checkpoint).
 * @throws VerificationError when it is malformed.
 */
export function parseTlogProof(text: string): TlogProof {
  const i = text.indexOf("\n\n");
  if (i < 0) fail("the tlog-proof has no checkpoint");
  const head = text.slice(0, i).split("\n");
  const checkpoint = text.slice(i + 2);
  if (head.shift() !== "c2sp.org/tlog-proof@v1") fail("not a c2sp.org/tlog-proof@v1");
  const out: TlogProof = { index: 0, proof: [], checkpoint };
  if (head[0]?.startsWith("extra ")) out.extra = dec((head.shift() as string).slice(6), "the tlog-proof extra");
  const idx = head.shift();
  if (!idx?.startsWith("index ") || !/^(0|[1-9][0-9]*)$/.test(idx.slice(6))) fail("the tlog-proof index is not canonical decimal");
  out.index = uint(Number(idx.slice(6)), "the tlog-proof index");
  if (head.length > 64) fail("more than 64 proof lines");
  out.proof = head.map((h) => dec(h, "a tlog-proof hash", 32));
  return out;
}

/** Options of {@link verifyReceipt}. */
export interface ReceiptOptions extends WitnessPolicy {
  /** Also check the event's signature with the submitter's key. */
  submitterKey?: VerifierKey | string;
}

/** A verified receipt. */
export interface VerifiedReceipt {
  /** The entry's index. */
  index: number;
  /** Its leaf hash. */
  leafHash: Uint8Array;
  /** Its leaf hash, base64 (a chain's next `prev`). */
  leafHashB64: string;
  /** The entry bytes. */
  entry: Uint8Array;
  /** The parsed leaf. */
  leaf: Leaf;
  /** The checkpoint it is included in. */
  checkpoint: VerifiedCheckpoint;
}

/**
 * Verifies a receipt offline with the log's key (as `Receipt::verify`):
 * the leaf hash is SHA-256(0x00 ‖ entry), the tlog-proof agrees with the
 * JSON (index, checkpoint, proof), the checkpoint is signed by the log key
 * (origin = key name), the inclusion proof leads to its root, the entry is
 * a provlog leaf; then the witness policy and the submitter's signature if
 * asked.
 * @throws VerificationError at the first check that fails.
 */
export function verifyReceipt(r: Receipt, logKey: VerifierKey | string, opts: ReceiptOptions = {}): VerifiedReceipt {
  if (!r || typeof r !== "object") fail("not a receipt");
  const index = uint(r.index, "index");
  const entry = dec(r.entry, "entry");
  const claimed = dec(r.leaf_hash, "leaf_hash", 32);
  const lh = leafHash(entry);
  if (!equal(lh, claimed)) fail("the leaf hash is not the entry's");
  if (!Array.isArray(r.inclusion_proof)) fail("inclusion_proof is missing");
  const proof = r.inclusion_proof.map((p) => dec(p, "inclusion_proof"));
  if (typeof r.tlog_proof !== "string" || typeof r.checkpoint !== "string") fail("the receipt has no tlog_proof or checkpoint");
  const t = parseTlogProof(r.tlog_proof);
  if (t.index !== index) fail("the tlog-proof index is not the receipt's");
  if (t.checkpoint !== r.checkpoint) fail("the tlog-proof checkpoint is not the receipt's");
  if (t.proof.length !== proof.length || t.proof.some((h, i) => !equal(h, proof[i] as Uint8Array))) fail("the tlog-proof and the inclusion proof disagree");
  const cp = openCheckpoint(r.checkpoint, logKey, opts);
  verifyInclusion(index, cp.size, lh, proof, cp.root);
  const leaf = parseLeaf(entry);
  if (opts.submitterKey !== undefined) {
    if (leaf.kind !== "event") fail("not an event leaf");
    const ev = leaf as EventLeaf;
    const key = asKey(opts.submitterKey);
    const sig = dec(ev.signature, "the event signature", 64);
    const msg = ev.v === 2 ? signingMessageV2(ev.event, cp.origin) : ev.v === 1 ? signingMessageV1(ev.event) : fail("unknown signature version");
    if (!key.verify(msg, sig)) fail("the submitter's signature does not verify");
  }
  return { index, leafHash: lh, leafHashB64: b64encode(lh), entry, leaf, checkpoint: cp };
}

/** A credential answer (`GET /v1/credentials/<fingerprint>`). */
export interface CredentialAnswer {
  /** The fingerprint answered about. */
  fingerprint: string;
  /** `active`, `superseded`, `revoked`, `expired` or `unknown` (informative). */
  state: string;
  /** The credential record, absent when unknown. */
  record?: CredentialRecord;
  /** Base64 binary map proof. */
  map_proof: string;
  /** The state commitment. */
  commitment: { index: number; entry: string; proof: string[] };
  /** The checkpoint note. */
  checkpoint: string;
  /** Events naming the credential (with `?history=true`). */
  history?: { index: number; leaf_hash: string; entry: string; decoded: unknown; proof: string[] }[];
  /** A page of a longer history. */
  next_after?: number;
}

/** A credential record (docs/MAP.md "Credential records"). */
export interface CredentialRecord {
  /** 1. */
  v: number;
  /** The credential. */
  fingerprint: string;
  /** Its state. */
  state: "active" | "superseded" | "revoked" | "expired";
  /** The target that owns it. */
  owner: { id: string; type: string; system?: string };
  /** The submitter of the first event naming it. */
  issued_by: string;
  /** Expiry. */
  not_after?: string;
  /** Index of its last change. */
  last_index: number;
  /** Version number. */
  version: number;
  /** Base64 value of the previous version. */
  previous?: string;
}

/** What a credential answer is verified against. */
export interface AnswerRequirements extends WitnessPolicy {
  /** The verifier's clock, ms since the epoch (default `Date.now()`). */
  nowMs?: number;
  /** The oldest commitment accepted, ms: the longest a revoked credential may still be accepted. */
  maxAgeMs: number;
  /** Historical question: was it so when this entry was logged? (no freshness) */
  asOfEntry?: number;
}

/** A verified credential answer. */
export interface VerifiedCredential {
  /** The state to act on (`expired` if `not_after` passed, `unknown` without a record). */
  state: "active" | "superseded" | "revoked" | "expired" | "unknown";
  /** The record. */
  record: CredentialRecord | undefined;
  /** The commitment's index. */
  commitmentIndex: number;
  /** The commitment leaf. */
  commitment: StateLeaf;
  /** The checkpoint. */
  checkpoint: VerifiedCheckpoint;
  /** The verified history items (index, leaf). */
  history: { index: number; leaf: EventLeaf }[];
}

const MAX_SKEW_MS = 5000;
const FP = /^sha256:[0-9a-f]{64}$/;

/** Steps 2–4: the checkpoint, the commitment's inclusion and its freshness. */
function verifyCommitment(
  note: string,
  c: { index: number; entry: string; proof: string[] } | undefined,
  logKey: VerifierKey | string,
  req: AnswerRequirements,
): { cp: VerifiedCheckpoint; leaf: StateLeaf; index: number; committedAt: number } {
  if (typeof note !== "string") fail("the answer has no checkpoint");
  const min = req.minWitnesses ?? 0;
  const cp = openCheckpoint(note, logKey, min > 0 ? req : {});
  if (!c || typeof c !== "object") fail("the answer has no commitment");
  const index = uint(c.index, "commitment.index");
  const entry = dec(c.entry, "commitment.entry");
  if (!Array.isArray(c.proof)) fail("commitment.proof is missing");
  verifyInclusion(index, cp.size, leafHash(entry), c.proof.map((p) => dec(p, "commitment.proof", 32)), cp.root);
  const leaf = parseStateLeaf(entry);
  if (leaf.size !== index) fail(`the state leaf covers ${leaf.size} entries, not the ${index} before it`);
  const committedAt = parseMillis(leaf.logged_at);
  if (req.asOfEntry === undefined) {
    const now = req.nowMs ?? Date.now();
    const age = now - committedAt;
    if (age > req.maxAgeMs || age < -Math.min(MAX_SKEW_MS, req.maxAgeMs)) {
      fail(`stale: the commitment is ${age} ms old (max ${req.maxAgeMs}), or ahead of this clock`);
    }
  } else if (index > req.asOfEntry) {
    fail("the commitment is after the entry the question is about");
  }
  return { cp, leaf, index, committedAt };
}

function changes(e: EventLeaf["event"], fp: string): boolean {
  const c = e.credential;
  if (!c) return false;
  const acts = ["issue", "bind", "grant", "rotate", "revoke", "unbind", "expire"].includes(e.action);
  return acts && (c.fingerprint === fp || (e.action === "rotate" && c.previous_fingerprint === fp));
}

/**
 * Verifies a credential answer for `fingerprint` (docs/MAP.md "Verifying
 * an answer", as `CredentialAnswer::verify_for` and
 * `testdata/vectors/verify_credential_answer.py`).
 * @throws VerificationError at the first check that fails.
 */
export function verifyCredentialAnswer(a: CredentialAnswer, fingerprint: string, logKey: VerifierKey | string, req: AnswerRequirements): VerifiedCredential {
  if (!a || typeof a !== "object") fail("not an answer");
  if (a.fingerprint !== fingerprint) fail("the answer is about another credential");
  if (!FP.test(fingerprint)) fail("not a fingerprint");
  if (a.next_after !== undefined && a.next_after !== null) fail("a page of a longer history");
  const { cp, leaf, index, committedAt } = verifyCommitment(a.checkpoint, a.commitment, logKey, req);
  const rec = a.record ?? undefined;
  let value: Uint8Array | null = null;
  if (rec !== undefined) {
    if (rec.fingerprint !== fingerprint) fail("the record is about another credential");
    if (uint(rec.last_index, "last_index") >= index) fail("the record was changed at or after its commitment");
    if (uint(rec.version, "version") >= 2 ** 53) fail("version beyond 2^53");
    if (rec.not_after !== undefined) parseMillis(rec.not_after);
    value = credentialValue(rec);
  }
  if (!verifyMapProof(dec(leaf.map_root, "map_root", 32), credentialKey(fingerprint), value, dec(a.map_proof, "map_proof"))) {
    fail("the map proof does not verify");
  }
  const committed = rec ? rec.state : "unknown";
  if (a.state !== committed) fail("the stated state is not the record's");
  // Step 7: history items.
  const history: { index: number; leaf: EventLeaf }[] = [];
  let last = -1;
  for (const item of a.history ?? []) {
    const i = uint(item.index, "history index");
    if (i <= last) fail("the history is not in increasing index order");
    last = i;
    const entry = dec(item.entry, "history entry");
    const lh = dec(item.leaf_hash, "history leaf_hash", 32);
    if (!equal(leafHash(entry), lh)) fail(`history entry ${i}: the leaf hash is not the entry's`);
    verifyInclusion(i, cp.size, lh, (item.proof ?? []).map((p) => dec(p, "history proof", 32)), cp.root);
    const l = parseLeaf(entry);
    if (l.kind !== "event") fail(`history entry ${i} is not an event`);
    const ev = l as EventLeaf;
    if (!equal(canonicalBytes(item.decoded), entry)) fail(`history entry ${i}: decoded is not the entry`);
    const c = ev.event.credential;
    if (!c || (c.fingerprint !== fingerprint && c.previous_fingerprint !== fingerprint)) fail(`history entry ${i} does not name this fingerprint`);
    history.push({ index: i, leaf: ev });
  }
  if (req.asOfEntry === undefined) {
    const later = history.find((h) => h.index > index && h.leaf.event.outcome === "success" && h.leaf.event.decision.result === "allow" && changes(h.leaf.event, fingerprint));
    if (later) fail(`the history holds a change of this credential at entry ${later.index}, after the commitment`);
  }
  if (rec && history.length > 0 && !history.some((h) => h.index === rec.last_index)) fail("the history does not hold the record's last change");
  let state: VerifiedCredential["state"] = committed as VerifiedCredential["state"];
  const judgedAt = req.asOfEntry === undefined ? (req.nowMs ?? Date.now()) : committedAt;
  if (state === "active" && rec?.not_after !== undefined && parseMillis(rec.not_after) <= judgedAt) state = "expired";
  return { state, record: rec, commitmentIndex: index, commitment: leaf, checkpoint: cp, history };
}

/** A chain record (docs/CHAINS.md "Chain records"). */
export interface ChainRecord {
  /** 1. */
  v: number;
  /** The submitter. */
  submitter: string;
  /** Position of its last entry, 0 while none. */
  seq: number;
  /** Base64 leaf hash of that entry (of the registration while `seq` is 0). */
  head: string;
  /** That entry's index. */
  head_index: number;
  /** Index of the registration's policy leaf. */
  registered_index: number;
  /** Its `logged_at`. */
  registered_at: string;
  /** The last heartbeat. */
  heartbeat?: { seq: number; index: number; logged_at: string };
}

/** A chain answer (`GET /v1/chains/<submitter>`). */
export interface ChainAnswer {
  /** The submitter. */
  submitter: string;
  /** Its chain record, absent when not sequenced. */
  record?: ChainRecord;
  /** Base64 map proof. */
  map_proof: string;
  /** The commitment. */
  commitment: { index: number; entry: string; proof: string[] };
  /** The checkpoint. */
  checkpoint: string;
  /** Chain entries (with `from`). */
  entries?: unknown[];
  /** Where to ask again. */
  next_from?: number;
}

/**
 * Verifies a chain answer's record (docs/CHAINS.md "Verifying", steps 1–3;
 * the listed `entries` are not checked here).
 * @throws VerificationError at the first check that fails.
 */
export function verifyChainAnswer(a: ChainAnswer, submitter: string, logKey: VerifierKey | string, req: AnswerRequirements): { record: ChainRecord | undefined; commitmentIndex: number; checkpoint: VerifiedCheckpoint } {
  if (!a || a.submitter !== submitter) fail("the answer is about another submitter");
  if (a.next_from !== undefined && a.next_from !== null) fail("a page of a longer chain");
  const { cp, leaf, index } = verifyCommitment(a.checkpoint, a.commitment, logKey, req);
  const rec = a.record ?? undefined;
  let value: Uint8Array | null = null;
  if (rec !== undefined) {
    if (rec.submitter !== submitter) fail("the record is about another submitter");
    const hi = uint(rec.head_index, "head_index");
    if (!(uint(rec.registered_index, "registered_index") <= hi && hi < index)) fail("the record's indexes do not fit its commitment");
    if (uint(rec.seq, "seq") >= 2 ** 53) fail("seq beyond 2^53");
    dec(rec.head, "head", 32);
    value = chainValue(rec);
  }
  if (!verifyMapProof(dec(leaf.map_root, "map_root", 32), chainKey(submitter), value, dec(a.map_proof, "map_proof"))) fail("the map proof does not verify");
  return { record: rec, commitmentIndex: index, checkpoint: cp };
}

/** Base64 SHA-256 of JCS(submission): a refusal's `submission`. */
export function submissionDigest(submission: Submission | Record<string, unknown>): string {
  return b64encode(sha256(canonicalBytes(submission)));
}

/**
 * Verifies a signed refusal (or an error body holding one) with the log's
 * key: the origin is the key's name and the signature covers
 * `provlog/refusal/v1\n` ‖ JCS(refusal); with `submission`, that it is
 * about that submission.
 * @throws VerificationError when it does not verify.
 */
export function verifyRefusal(signed: SignedRefusal | { error: { refusal: SignedRefusal } } | { refusal: SignedRefusal }, logKey: VerifierKey | string, submission?: Submission | Record<string, unknown>): SignedRefusal {
  let s = signed as SignedRefusal;
  const o = signed as unknown as Record<string, unknown>;
  if (o["error"] && typeof o["error"] === "object") s = (o["error"] as { refusal: SignedRefusal }).refusal;
  else if (typeof o["signature"] !== "string" && o["refusal"]) s = o["refusal"] as SignedRefusal;
  if (!s || typeof s.signature !== "string" || !s.refusal || typeof s.refusal !== "object") fail("no signed refusal");
  const key = asKey(logKey);
  if (s.refusal.origin !== key.name) fail("the refusal's origin is not the log key's name");
  const sig = dec(s.signature, "the refusal signature", 64);
  const msg = new Uint8Array([...utf8("provlog/refusal/v1\n"), ...canonicalBytes(s.refusal)]);
  if (!key.verify(msg, sig)) fail("the refusal signature does not verify");
  if (submission !== undefined && submissionDigest(submission) !== s.refusal.submission) fail("the refusal is about another submission");
  return s;
}
