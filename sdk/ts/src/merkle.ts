/**
 * RFC 6962 / RFC 9162 Merkle tree hashing and proof verification.
 * @module
 */
import { concat, equal, sha256 } from "./bytes.js";
import { VerificationError } from "./errors.js";

/** SHA-256 of the empty string: the root of the empty tree. */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

/** The leaf hash of an entry: SHA-256(0x00 ‖ entry). */
export function leafHash(entry: Uint8Array): Uint8Array {
  return sha256(Uint8Array.of(0), entry);
}

/** An interior node: SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(concat(Uint8Array.of(1), left, right));
}

/** The Merkle tree hash (RFC 9162 §2.1.1) of a list of leaf hashes. */
export function rootOf(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return EMPTY_ROOT;
  // Iterative: fold perfect subtrees with a stack (left to right).
  const stack: { h: Uint8Array; n: number }[] = [];
  for (const l of leaves) {
    let cur = { h: l, n: 1 };
    while (stack.length > 0 && (stack[stack.length - 1] as { n: number }).n === cur.n) {
      const left = stack.pop() as { h: Uint8Array; n: number };
      cur = { h: nodeHash(left.h, cur.h), n: left.n * 2 };
    }
    stack.push(cur);
  }
  let acc = (stack.pop() as { h: Uint8Array }).h;
  while (stack.length > 0) acc = nodeHash((stack.pop() as { h: Uint8Array }).h, acc);
  return acc;
}

function check32(h: Uint8Array, what: string): void {
  if (h.length !== 32) throw new VerificationError(`${what} is ${h.length} bytes, not 32`);
}

function big(n: number | bigint, what: string): bigint {
  if (typeof n === "number" && (!Number.isSafeInteger(n) || n < 0)) throw new VerificationError(`${what} is not an unsigned integer`);
  const b = BigInt(n);
  if (b < 0n) throw new VerificationError(`${what} is negative`);
  return b;
}

/**
 * The root an inclusion proof (RFC 9162 §2.1.3.2) gives for `leaf` at
 * `index` in a tree of `size`.
 * @throws VerificationError when the proof is malformed (too long, too short, index out of range).
 */
export function rootFromInclusion(index: number | bigint, size: number | bigint, leaf: Uint8Array, proof: readonly Uint8Array[]): Uint8Array {
  let fn = big(index, "index");
  let sn = big(size, "tree size");
  check32(leaf, "the leaf hash");
  if (fn >= sn) throw new VerificationError("the index is beyond the tree");
  sn -= 1n;
  let r = leaf;
  for (const p of proof) {
    check32(p, "a proof hash");
    if (sn === 0n) throw new VerificationError("the inclusion proof is too long");
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      while (fn !== 0n && (fn & 1n) === 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerificationError("the inclusion proof is too short");
  return r;
}

/**
 * Verifies an inclusion proof against `root`.
 * @throws VerificationError when it does not verify.
 */
export function verifyInclusion(index: number | bigint, size: number | bigint, leaf: Uint8Array, proof: readonly Uint8Array[], root: Uint8Array): void {
  check32(root, "the root");
  if (!equal(rootFromInclusion(index, size, leaf, proof), root)) {
    throw new VerificationError("the inclusion proof does not lead to the root");
  }
}

/**
 * Verifies a consistency proof (RFC 9162 §2.1.4.2) from a tree of
 * `oldSize` with `oldRoot` to one of `newSize` with `newRoot`. Edge cases as
 * docs/SPECS.md §1.7: equal sizes need an empty proof and equal roots; an
 * old size 0 needs an empty proof (and the empty-tree root).
 * @throws VerificationError when it does not verify.
 */
export function verifyConsistency(
  oldSize: number | bigint,
  newSize: number | bigint,
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
  proof: readonly Uint8Array[],
): void {
  const m = big(oldSize, "old size");
  const n = big(newSize, "new size");
  check32(oldRoot, "the old root");
  check32(newRoot, "the new root");
  for (const p of proof) check32(p, "a proof hash");
  if (m > n) throw new VerificationError("the old tree is larger than the new one");
  if (m === n) {
    if (proof.length !== 0 || !equal(oldRoot, newRoot)) throw new VerificationError("equal sizes need an empty proof and equal roots");
    return;
  }
  if (m === 0n) {
    if (proof.length !== 0 || !equal(oldRoot, EMPTY_ROOT)) throw new VerificationError("from the empty tree the proof is empty");
    return;
  }
  if (proof.length === 0) throw new VerificationError("the consistency proof is empty");
  const path = (m & (m - 1n)) === 0n ? [oldRoot, ...proof] : [...proof];
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0] as Uint8Array;
  let sr = fr;
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new VerificationError("the consistency proof is too long");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn !== 0n && (fn & 1n) === 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n || !equal(fr, oldRoot) || !equal(sr, newRoot)) {
    throw new VerificationError("the consistency proof does not verify");
  }
}
