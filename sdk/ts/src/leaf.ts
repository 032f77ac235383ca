/**
 * provlog leaves: the canonical JSON entries of the log (docs/DESIGN.md
 * "Formats", "Entry bytes").
 * @module
 */
import { fromUtf8 } from "./bytes.js";
import { VerificationError } from "./errors.js";
import type { ProvisioningEvent, SignedApproval } from "./event.js";
import { canonicalString } from "./jcs.js";

/** An event leaf. */
export interface EventLeaf {
  /** `event`. */
  kind: "event";
  /** 1 or 2: the signature's version. */
  v: number;
  /** The event as signed. */
  event: ProvisioningEvent;
  /** The submitter id. */
  submitter: string;
  /** Base64 signature. */
  signature: string;
  /** The log's time (`YYYY-MM-DDTHH:MM:SS.mmmZ`). */
  logged_at: string;
  /** The approvals carried. */
  approvals?: SignedApproval[];
  /** The log's Cedar decision. */
  policy_decision?: unknown;
}

/** A state commitment leaf (docs/MAP.md "State commitments"). */
export interface StateLeaf {
  /** `state`. */
  kind: "state";
  /** 1. */
  v: number;
  /** The number of keys in the map. */
  credentials: number;
  /** The log's time. */
  logged_at: string;
  /** Base64 map root. */
  map_root: string;
  /** The number of entries the map covers (= the leaf's index). */
  size: number;
}

/** A policy (registry) leaf. */
export interface PolicyLeaf {
  /** `policy`. */
  kind: "policy";
  /** 1. */
  v: number;
  /** The log's time. */
  logged_at: string;
  /** The registry. */
  policy: Record<string, unknown>;
  /** A key rotation announcement. */
  log_key?: unknown;
}

/** Any provlog leaf. */
export type Leaf = EventLeaf | StateLeaf | PolicyLeaf | { kind: string; v: number; [k: string]: unknown };

/** `YYYY-MM-DDTHH:MM:SS.mmmZ`. */
export const LOGGED_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Parses entry bytes as a provlog leaf: a JSON object in exactly its RFC
 * 8785 canonical form, with a known `kind`, an integer `v` and `logged_at`.
 * @throws VerificationError when the bytes are not a provlog leaf.
 */
export function parseLeaf(entry: Uint8Array): Leaf {
  let text: string;
  let v: unknown;
  try {
    text = fromUtf8(entry);
    v = JSON.parse(text);
  } catch {
    throw new VerificationError("the entry is not UTF-8 JSON");
  }
  if (!v || typeof v !== "object" || Array.isArray(v)) throw new VerificationError("the entry is not a JSON object");
  if (canonicalString(v) !== text) throw new VerificationError("the entry is not canonical JSON");
  const o = v as Record<string, unknown>;
  if (!["event", "statement", "policy", "state", "heartbeat"].includes(o["kind"] as string)) throw new VerificationError("the entry has no known kind");
  if (!Number.isSafeInteger(o["v"])) throw new VerificationError("the entry has no version");
  if (typeof o["logged_at"] !== "string" || !LOGGED_AT.test(o["logged_at"])) throw new VerificationError("the entry's logged_at is not YYYY-MM-DDTHH:MM:SS.mmmZ");
  return o as Leaf;
}

/**
 * Parses a state leaf (exactly its members, `v` 1, integer fields).
 * @throws VerificationError otherwise.
 */
export function parseStateLeaf(entry: Uint8Array): StateLeaf {
  const l = parseLeaf(entry) as Record<string, unknown>;
  const keys = Object.keys(l).sort().join(",");
  if (l["kind"] !== "state" || keys !== "credentials,kind,logged_at,map_root,size,v") throw new VerificationError("not a state leaf");
  if (l["v"] !== 1) throw new VerificationError("a state leaf of another version");
  for (const k of ["credentials", "size"]) {
    const n = l[k];
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw new VerificationError(`the state leaf's ${k} is not an unsigned integer`);
  }
  if (typeof l["map_root"] !== "string") throw new VerificationError("the state leaf has no map_root");
  return l as unknown as StateLeaf;
}

/** Milliseconds since the epoch of an RFC 3339 time. */
export function parseMillis(t: unknown): number {
  if (typeof t !== "string" || !/^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/.test(t)) {
    throw new VerificationError(`not an RFC 3339 time: ${JSON.stringify(t)}`);
  }
  const ms = Date.parse(t.toUpperCase());
  if (Number.isNaN(ms)) throw new VerificationError(`not an RFC 3339 time: ${JSON.stringify(t)}`);
  return ms;
}
