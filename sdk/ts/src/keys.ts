/**
 * Signed-note keys (C2SP signed-note, docs/SPECS.md §2.3–2.6):
 * `PRIVATE+KEY+<name>+<hash>+<base64>` skeys and `<name>+<hash>+<base64>`
 * vkeys, Ed25519 (type 0x01) and witness cosignature/v1 (type 0x04).
 * @module
 */
import { ed25519 } from "@noble/curves/ed25519.js";
import { b64decode, b64encode, concat, sha256, utf8 } from "./bytes.js";

/** Signature type byte of Ed25519 note signatures (logs, submitters, approvers). */
export const ALG_ED25519 = 0x01;
/** Signature type byte of C2SP tlog-cosignature `cosignature/v1` (witnesses). */
export const ALG_COSIGNATURE_V1 = 0x04;

/** The key types this SDK knows. */
export type KeyAlg = typeof ALG_ED25519 | typeof ALG_COSIGNATURE_V1;

/**
 * Checks a signed-note key name: non-empty, at most 255 bytes, no `+`, no
 * Unicode white space and no control character.
 * @throws Error when it is not valid.
 */
export function checkKeyName(name: string): void {
  if (name.length === 0) throw new Error("empty key name");
  if (utf8(name).length > 255) throw new Error("key name over 255 bytes");
  if (name.includes("+")) throw new Error("key name contains '+'");
  // Go unicode.IsSpace / Rust char::is_whitespace, and C0/DEL controls.
  if (/[\s\u0085\u0000-\u001f\u007f]/u.test(name)) throw new Error("key name contains white space or a control character");
}

/**
 * The key ID: the first 4 bytes, big-endian, of
 * SHA-256(name ‖ "\n" ‖ type byte ‖ public key).
 */
export function keyId(name: string, alg: number, publicKey: Uint8Array): number {
  const h = sha256(utf8(name), Uint8Array.of(0x0a, alg), publicKey);
  return (((h[0] as number) << 24) | ((h[1] as number) << 16) | ((h[2] as number) << 8) | (h[3] as number)) >>> 0;
}

/** A key ID as 8 lowercase hex digits. */
export function keyIdHex(id: number): string {
  return id.toString(16).padStart(8, "0");
}

/** Splits `name+hash+base64` at the first two `+` (the base64 may hold `+`). */
function splitKey(s: string): [string, string, string] {
  const a = s.indexOf("+");
  const b = a < 0 ? -1 : s.indexOf("+", a + 1);
  if (a < 0 || b < 0) throw new Error("a key is name+hash+base64");
  return [s.slice(0, a), s.slice(a + 1, b), s.slice(b + 1)];
}

function parseParts(s: string, what: string): { name: string; alg: KeyAlg; raw: Uint8Array; id: number } {
  const [name, hash, data] = splitKey(s);
  checkKeyName(name);
  if (!/^[0-9a-f]{8}$/.test(hash)) throw new Error(`${what}: the key ID is not 8 lowercase hex digits`);
  const raw = b64decode(data, undefined, `${what} key data`);
  const alg = raw[0];
  if (alg !== ALG_ED25519 && alg !== ALG_COSIGNATURE_V1) throw new Error(`${what}: unsupported key type ${alg}`);
  if (raw.length !== 33) throw new Error(`${what}: the key is ${raw.length - 1} bytes, not 32`);
  return { name, alg, raw: raw.subarray(1), id: parseInt(hash, 16) >>> 0 };
}

/** A verifier key (`vkey`): a name and an Ed25519 public key of one type. */
export class VerifierKey {
  /** The key name (for a log: its origin). */
  readonly name: string;
  /** The type byte: {@link ALG_ED25519} or {@link ALG_COSIGNATURE_V1}. */
  readonly alg: KeyAlg;
  /** The 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
  /** The key ID (u32). */
  readonly keyId: number;

  /**
   * @param name - key name.
   * @param alg - type byte.
   * @param publicKey - 32-byte Ed25519 public key (a valid point).
   */
  constructor(name: string, alg: KeyAlg, publicKey: Uint8Array) {
    checkKeyName(name);
    if (publicKey.length !== 32) throw new Error("an Ed25519 public key is 32 bytes");
    try {
      ed25519.Point.fromBytes(publicKey, false);
    } catch {
      throw new Error("the public key is not an Ed25519 point");
    }
    this.name = name;
    this.alg = alg;
    this.publicKey = Uint8Array.from(publicKey);
    this.keyId = keyId(name, alg, publicKey);
  }

  /**
   * Parses `name+hash+base64`, checking the name, the type, the length,
   * the point and that the key ID is the key's.
   * @throws Error when the vkey is not valid.
   */
  static parse(vkey: string): VerifierKey {
    const p = parseParts(vkey, "vkey");
    const k = new VerifierKey(p.name, p.alg, p.raw);
    if (k.keyId !== p.id) throw new Error("vkey: the key ID is not the key's");
    return k;
  }

  /** The key ID as 8 hex digits. */
  get keyIdHex(): string {
    return keyIdHex(this.keyId);
  }

  /** The `name+hash+base64` form. */
  toString(): string {
    return `${this.name}+${this.keyIdHex}+${b64encode(concat(Uint8Array.of(this.alg), this.publicKey))}`;
  }

  /** Strict Ed25519 verification of `signature` over `message` (RFC 8032, no ZIP-215 leniency). */
  verify(message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== 64) return false;
    try {
      return ed25519.verify(signature, message, this.publicKey, { zip215: false });
    } catch {
      return false;
    }
  }
}

/** A signer key (`skey`): a name, a type and a 32-byte Ed25519 seed. */
export class SignerKey {
  /** The key name. */
  readonly name: string;
  /** The type byte. */
  readonly alg: KeyAlg;
  /** The 32-byte Ed25519 seed (secret). */
  readonly seed: Uint8Array;
  /** The 32-byte public key. */
  readonly publicKey: Uint8Array;
  /** The key ID (u32), from the public key. */
  readonly keyId: number;

  /**
   * @param name - key name.
   * @param alg - type byte.
   * @param seed - 32-byte Ed25519 seed.
   */
  constructor(name: string, alg: KeyAlg, seed: Uint8Array) {
    checkKeyName(name);
    if (seed.length !== 32) throw new Error("an Ed25519 seed is 32 bytes");
    this.name = name;
    this.alg = alg;
    this.seed = Uint8Array.from(seed);
    this.publicKey = ed25519.getPublicKey(this.seed);
    this.keyId = keyId(name, alg, this.publicKey);
  }

  /** A new random key (WebCrypto randomness). */
  static generate(name: string, alg: KeyAlg = ALG_ED25519): SignerKey {
    return new SignerKey(name, alg, ed25519.utils.randomSecretKey());
  }

  /**
   * Parses `PRIVATE+KEY+name+hash+base64` (the key ID is computed from the
   * public key derived from the seed and must match).
   * @throws Error when the skey is not valid.
   */
  static parse(skey: string): SignerKey {
    const s = skey.trim();
    if (!s.startsWith("PRIVATE+KEY+")) throw new Error("an skey starts with PRIVATE+KEY+");
    const p = parseParts(s.slice("PRIVATE+KEY+".length), "skey");
    const k = new SignerKey(p.name, p.alg, p.raw);
    if (k.keyId !== p.id) throw new Error("skey: the key ID is not the key's");
    return k;
  }

  /** The key ID as 8 hex digits. */
  get keyIdHex(): string {
    return keyIdHex(this.keyId);
  }

  /** The `PRIVATE+KEY+name+hash+base64` form. */
  toString(): string {
    return `PRIVATE+KEY+${this.name}+${this.keyIdHex}+${b64encode(concat(Uint8Array.of(this.alg), this.seed))}`;
  }

  /** The matching verifier key. */
  verifier(): VerifierKey {
    return new VerifierKey(this.name, this.alg, this.publicKey);
  }

  /** Ed25519 signature (deterministic, RFC 8032) over `message`. */
  sign(message: Uint8Array): Uint8Array {
    return ed25519.sign(message, this.seed);
  }
}
