/**
 * RFC 8785 (JCS) canonical JSON, through the `canonicalize` package.
 * @module
 */
import canonicalize from "canonicalize";
import { utf8 } from "./bytes.js";

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function check(v: unknown, depth: number): void {
  if (depth > 64) throw new Error("JSON nested deeper than 64 levels");
  if (v === null || typeof v === "boolean" || typeof v === "string") return;
  if (typeof v === "number") {
    if (!Number.isFinite(v)) throw new Error("a JSON number must be finite");
    return;
  }
  if (Array.isArray(v)) {
    for (const x of v) check(x, depth + 1);
    return;
  }
  if (typeof v === "object" && Object.getPrototypeOf(v) === Object.prototype || (typeof v === "object" && Object.getPrototypeOf(v) === null)) {
    for (const x of Object.values(v as object)) {
      if (x === undefined) continue;
      check(x, depth + 1);
    }
    return;
  }
  throw new Error(`not a JSON value: ${typeof v}`);
}

/**
 * The RFC 8785 canonical string of a JSON value (members sorted by UTF-16
 * code units, ECMAScript number formatting, minimal string escapes).
 * Members whose value is `undefined` are left out.
 * @throws Error for values JSON cannot hold (functions, NaN, lone surrogates, …).
 */
export function canonicalString(value: unknown): string {
  check(value, 0);
  const s = canonicalize(value);
  if (s === undefined) throw new Error("not a JSON value");
  return s;
}

/** The UTF-8 bytes of {@link canonicalString}: what provlog hashes and signs. */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8(canonicalString(value));
}
