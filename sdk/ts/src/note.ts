/**
 * C2SP signed notes, tlog-checkpoint and tlog-cosignature `cosignature/v1`
 * (docs/SPECS.md §2, §3, §6.1; `tlog/src/note.rs`, `tlog/src/witness.rs`).
 * @module
 */
import { b64decode, b64encode, concat, equal, utf8 } from "./bytes.js";
import { VerificationError } from "./errors.js";
import { ALG_COSIGNATURE_V1, ALG_ED25519, SignerKey, VerifierKey, checkKeyName } from "./keys.js";
import { EMPTY_ROOT } from "./merkle.js";

/** One signature line of a note. */
export interface NoteSignature {
  /** The key name on the line. */
  name: string;
  /** The key ID (first 4 bytes of the payload). */
  keyId: number;
  /** The payload after the key ID (64 bytes for Ed25519, 72 for cosignature/v1). */
  signature: Uint8Array;
  /** The line as written, without its newline. */
  line: string;
}

/** A parsed signed note. */
export interface Note {
  /** The text (ending in "\n"): what is signed. */
  text: string;
  /** The signature lines, in order. */
  signatures: NoteSignature[];
}

const MAX_NOTE = 1_000_000;
const MAX_SIGS = 100;

/**
 * Parses a signed note strictly (text, blank line, signature lines, each
 * `— <name> <base64>`); no cryptography.
 * @throws VerificationError when it is malformed.
 */
export function parseNote(note: string): Note {
  if (utf8(note).length > MAX_NOTE) throw new VerificationError("the note is over 1,000,000 bytes");
  if (/[\u0000-\u0009\u000b-\u001f]/.test(note)) throw new VerificationError("the note holds a control character");
  const i = note.lastIndexOf("\n\n");
  if (i < 0) throw new VerificationError("the note has no signature block");
  const text = note.slice(0, i + 1);
  const block = note.slice(i + 2);
  if (block.length === 0 || !block.endsWith("\n")) throw new VerificationError("the signature block is empty or does not end in a newline");
  const lines = block.slice(0, -1).split("\n");
  if (lines.length > MAX_SIGS) throw new VerificationError("more than 100 signature lines");
  const signatures = lines.map((line) => {
    if (!line.startsWith("\u2014 ")) throw new VerificationError("a signature line does not start with an em dash");
    const rest = line.slice(2);
    const sp = rest.indexOf(" ");
    if (sp < 0) throw new VerificationError("a malformed signature line");
    const name = rest.slice(0, sp);
    try {
      checkKeyName(name);
    } catch (e) {
      throw new VerificationError(`a signature line's name: ${(e as Error).message}`);
    }
    let raw: Uint8Array;
    try {
      raw = b64decode(rest.slice(sp + 1));
    } catch {
      throw new VerificationError("a signature line's payload is not base64");
    }
    if (raw.length < 5) throw new VerificationError("a signature line's payload is too short");
    const keyId = new DataView(raw.buffer, raw.byteOffset).getUint32(0, false);
    return { name, keyId, signature: raw.subarray(4), line };
  });
  return { text, signatures };
}

/** The message a cosignature/v1 covers: `cosignature/v1\ntime <t>\n` ‖ note text. */
export function cosignatureMessage(text: string, timestamp: bigint): Uint8Array {
  return utf8(`cosignature/v1\ntime ${timestamp.toString()}\n${text}`);
}

/**
 * Whether `sig` is a valid signature by `key` over the note `text`
 * (Ed25519 over the text; cosignature/v1 over its message with the
 * line's timestamp). The line's name and key ID must be the key's.
 */
export function verifyNoteSignature(text: string, sig: NoteSignature, key: VerifierKey): boolean {
  if (sig.name !== key.name || sig.keyId !== key.keyId) return false;
  if (key.alg === ALG_ED25519) {
    return sig.signature.length === 64 && key.verify(utf8(text), sig.signature);
  }
  if (key.alg === ALG_COSIGNATURE_V1) {
    if (sig.signature.length !== 72) return false;
    const t = new DataView(sig.signature.buffer, sig.signature.byteOffset).getBigUint64(0, false);
    if (t > 0x7fffffffffffffffn) return false;
    return key.verify(cosignatureMessage(text, t), sig.signature.subarray(8));
  }
  return false;
}

/**
 * Verifies a note against trusted keys (docs/SPECS.md §2.7): every line
 * naming a trusted (name, key ID) must verify, and at least one must.
 * @returns the keys that signed.
 * @throws VerificationError otherwise.
 */
export function verifyNote(note: Note, keys: readonly VerifierKey[]): VerifierKey[] {
  const signed: VerifierKey[] = [];
  for (const s of note.signatures) {
    const k = keys.find((k) => k.name === s.name && k.keyId === s.keyId);
    if (!k) continue;
    if (!verifyNoteSignature(note.text, s, k)) {
      throw new VerificationError(`the signature by ${s.name} does not verify`);
    }
    if (!signed.includes(k)) signed.push(k);
  }
  if (signed.length === 0) throw new VerificationError("no signature by a trusted key");
  return signed;
}

/** Signs a note text (ending in "\n") with Ed25519 keys; returns the note. */
export function signNote(text: string, keys: readonly SignerKey[]): string {
  if (!text.endsWith("\n")) throw new Error("a note text ends in a newline");
  let out = `${text}\n`;
  for (const k of keys) {
    if (k.alg !== ALG_ED25519) throw new Error("signNote signs with Ed25519 keys; use cosign for witnesses");
    out += `\u2014 ${k.name} ${b64encode(concat(keyIdBytes(k.keyId), k.sign(utf8(text))))}\n`;
  }
  return out;
}

/** A cosignature/v1 line (with its newline) by a witness key over a note text at `timestamp` (Unix seconds). */
export function cosignLine(text: string, key: SignerKey, timestamp: number | bigint): string {
  if (key.alg !== ALG_COSIGNATURE_V1) throw new Error("a cosignature needs a cosignature/v1 key");
  const t = BigInt(timestamp);
  const ts = new Uint8Array(8);
  new DataView(ts.buffer).setBigUint64(0, t, false);
  return `\u2014 ${key.name} ${b64encode(concat(keyIdBytes(key.keyId), ts, key.sign(cosignatureMessage(text, t))))}\n`;
}

function keyIdBytes(id: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, id, false);
  return b;
}

/** A checkpoint (C2SP tlog-checkpoint). */
export interface Checkpoint {
  /** The log's origin (first line). */
  origin: string;
  /** The tree size. */
  size: number;
  /** The root hash (32 bytes). */
  root: Uint8Array;
  /** Extension lines (provlog writes none). */
  extensions: string[];
  /** The note text that was signed. */
  text: string;
  /** The whole signed note as given. */
  note: string;
}

/**
 * Parses a checkpoint text strictly (origin, canonical decimal size,
 * canonical base64 root of 32 bytes, extension lines).
 * @throws VerificationError when it is not a checkpoint.
 */
export function parseCheckpointText(text: string): Omit<Checkpoint, "note"> {
  if (!text.endsWith("\n")) throw new VerificationError("a checkpoint text ends in a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3 || lines.some((l) => l.length === 0)) throw new VerificationError("a checkpoint has three non-empty lines or more");
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (!/^(0|[1-9][0-9]*)$/.test(sizeLine)) throw new VerificationError("the checkpoint size is not canonical decimal");
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size)) throw new VerificationError("the checkpoint size is beyond 2^53");
  let root: Uint8Array;
  try {
    root = b64decode(rootLine, 32, "the checkpoint root");
  } catch (e) {
    throw new VerificationError((e as Error).message);
  }
  if (size === 0 && !equal(root, EMPTY_ROOT)) throw new VerificationError("a size-0 checkpoint has the empty-tree root");
  return { origin, size, root, extensions, text };
}

/** The result of {@link openCheckpoint}. */
export interface VerifiedCheckpoint extends Checkpoint {
  /** The number of witnesses (of those required) that cosigned it. */
  cosigned: number;
}

/** Options of witness verification. */
export interface WitnessPolicy {
  /** Witness vkeys (cosignature/v1). */
  witnesses?: readonly (VerifierKey | string)[];
  /** How many of them must have cosigned (default 0). */
  minWitnesses?: number;
}

/** Accepts vkeys as strings or parsed keys. */
export function asKey(k: VerifierKey | string): VerifierKey {
  return typeof k === "string" ? VerifierKey.parse(k) : k;
}

/**
 * Counts the given witnesses with a valid cosignature line on the note,
 * each once; fails if fewer than `min`, or if a line naming a given witness
 * key does not verify (as `witness::require_cosignatures`).
 * @throws VerificationError when the policy is not met.
 */
export function requireCosignatures(note: string, witnesses: readonly (VerifierKey | string)[], min: number): number {
  const n = parseNote(note);
  const seen = new Set<string>();
  let got = 0;
  for (const w0 of witnesses) {
    const w = asKey(w0);
    const id = `${w.name}\u0000${w.keyId}`;
    if (seen.has(id)) continue;
    seen.add(id);
    const lines = n.signatures.filter((s) => s.name === w.name && s.keyId === w.keyId);
    if (lines.length === 0) continue;
    if (lines.every((s) => verifyNoteSignature(n.text, s, w))) got++;
    else throw new VerificationError(`the cosignature of ${w.name} does not verify`);
  }
  if (got < min) throw new VerificationError(`${got} of ${witnesses.length} witnesses cosigned, ${min} required`);
  return got;
}

/**
 * Opens a checkpoint note with the log's key (as `open_checkpoint`): the key
 * is Ed25519, the note parses, every line by the log key verifies and one
 * exists, the text is a checkpoint whose origin is the key's name; then the
 * witness policy, if any.
 * @throws VerificationError at the first check that fails.
 */
export function openCheckpoint(note: string, logKey: VerifierKey | string, policy: WitnessPolicy = {}): VerifiedCheckpoint {
  const key = asKey(logKey);
  if (key.alg !== ALG_ED25519) throw new VerificationError("the log key is not an Ed25519 key");
  const n = parseNote(note);
  verifyNote(n, [key]);
  const cp = parseCheckpointText(n.text);
  if (cp.origin !== key.name) throw new VerificationError(`the checkpoint origin ${JSON.stringify(cp.origin)} is not the log key's name ${JSON.stringify(key.name)}`);
  const min = policy.minWitnesses ?? 0;
  const cosigned = min > 0 || (policy.witnesses?.length ?? 0) > 0 ? requireCosignatures(note, policy.witnesses ?? [], min) : 0;
  return { ...cp, note, cosigned };
}
