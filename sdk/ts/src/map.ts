/**
 * `provlog-map-v1` proofs (docs/MAP.md "Proofs", "Verification") and the
 * credential and chain keys and values of the credential map.
 * @module
 */
import { concat, equal, sha256, utf8 } from "./bytes.js";
import { canonicalBytes } from "./jcs.js";

/** The empty map's root, H(0x14). */
export const EMPTY_MAP_ROOT: Uint8Array = sha256(Uint8Array.of(0x14));

function bit(k: Uint8Array, i: number): number {
  return ((k[i >> 3] as number) >> (7 - (i & 7))) & 1;
}

/**
 * Verifies a map proof (binary form) for key `key` against `root`:
 * inclusion of `value`, or absence when `value` is null.
 */
export function verifyMapProof(root: Uint8Array, key: Uint8Array, value: Uint8Array | null, proof: Uint8Array): boolean {
  if (proof.length < 3 || key.length !== 32 || root.length !== 32) return false;
  const kind = proof[0];
  let p = 1;
  let k: Uint8Array;
  let v: Uint8Array;
  if (kind === 1) {
    if (proof.length < 67) return false;
    k = proof.subarray(1, 33);
    v = proof.subarray(33, 65);
    p = 65;
  } else if (kind === 0 || kind === 2) {
    k = key;
    v = value ?? new Uint8Array(0);
  } else return false;
  const n = ((proof[p] as number) << 8) | (proof[p + 1] as number);
  p += 2;
  if (n > 256 || proof.length !== p + 33 * n) return false;
  if (kind === 2) return value === null && n === 0 && equal(root, EMPTY_MAP_ROOT);
  if (kind === 0) {
    if (value === null || value.length !== 32) return false;
  } else if (value !== null || equal(k, key)) return false;
  let h = sha256(Uint8Array.of(0x12), k, v);
  let prev = 256;
  for (let i = 0; i < n; i++) {
    const b = proof[p] as number;
    const s = proof.subarray(p + 1, p + 33);
    p += 33;
    if (b >= prev || bit(key, b) !== bit(k, b)) return false;
    prev = b;
    h = bit(key, b) === 0 ? sha256(concat(Uint8Array.of(0x13, b), h, s)) : sha256(concat(Uint8Array.of(0x13, b), s, h));
  }
  return equal(h, root);
}

/** The map key of a credential: SHA-256("provlog/credential-key/v1\n" ‖ fingerprint). */
export function credentialKey(fingerprint: string): Uint8Array {
  return sha256(utf8(`provlog/credential-key/v1\n${fingerprint}`));
}

/** The map value of a credential record: SHA-256("provlog/credential-record/v1\n" ‖ JCS(record)). */
export function credentialValue(record: unknown): Uint8Array {
  return sha256(utf8("provlog/credential-record/v1\n"), canonicalBytes(record));
}

/** The map key of a submitter's chain: SHA-256("provlog/chain-key/v1\n" ‖ submitter). */
export function chainKey(submitter: string): Uint8Array {
  return sha256(utf8(`provlog/chain-key/v1\n${submitter}`));
}

/** The map value of a chain record: SHA-256("provlog/chain-record/v1\n" ‖ JCS(record)). */
export function chainValue(record: unknown): Uint8Array {
  return sha256(utf8("provlog/chain-record/v1\n"), canonicalBytes(record));
}
