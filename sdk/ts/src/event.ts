/**
 * The provisioning event (docs/DESIGN.md "The provisioning event"), its
 * canonical bytes, submissions signed under version 1 or 2, and approvals
 * (docs/DESIGN.md "Submitters and delegated authority", "Approvals").
 * @module
 */
import { b64decode, b64encode, concat, sha256, utf8 } from "./bytes.js";
import { canonicalBytes } from "./jcs.js";
import type { SignerKey, VerifierKey } from "./keys.js";
import { ALG_ED25519 } from "./keys.js";

/** Built-in actions; `x-<name>` extends them. */
export type Action = "issue" | "rotate" | "revoke" | "bind" | "unbind" | "grant" | "expire" | `x-${string}`;

/** Who performed the action. */
export interface Actor {
  /** The workflow or principal. */
  id: string;
  /** Its type (`workflow`, `user`, …). */
  type: string;
}

/** The identity acted on. */
export interface Target {
  /** Its id. */
  id: string;
  /** `service_account`, `api_key`, `token`, `certificate`, `role`, `secret`, … */
  type: string;
  /** The system it lives in. */
  system?: string;
}

/** The delegated authority it ran under (`{}` allowed). */
export interface Authority {
  /** Change or approval id. */
  approval_id?: string;
  /** Who approved. */
  approved_by?: string;
  /** Scope of the authority. */
  scope?: string;
}

/** The decision recorded. */
export interface Decision {
  /** `allow` or `deny`. */
  result: "allow" | "deny";
  /** The policy that decided. */
  policy_id?: string;
  /** Its version (a string). */
  policy_version?: string;
}

/** The credential state relied on. */
export interface Credential {
  /** `sha256:<64 lowercase hex>`. */
  fingerprint: string;
  /** The credential it replaces (for `rotate`). */
  previous_fingerprint?: string;
  /** RFC 3339 expiry. */
  not_after?: string;
}

/** A provisioning event, schema version 1. */
export interface ProvisioningEvent {
  /** 1–128 ASCII 0x21–0x7E; the idempotency key, unique per submitter. */
  event_id: string;
  /** RFC 3339 time the action happened. */
  occurred_at: string;
  /** What was done. */
  action: Action;
  /** Who did it. */
  actor: Actor;
  /** To which identity. */
  target: Target;
  /** Under which authority. */
  authority: Authority;
  /** The decision. */
  decision: Decision;
  /** `success` or `failure`. */
  outcome: "success" | "failure";
  /** The credential relied on. */
  credential?: Credential;
  /** Free-form JSON object. */
  details?: Record<string, unknown>;
  /** Position in a sequenced submitter's chain (with `prev`). */
  seq?: number;
  /** Base64 leaf hash of the previous chain entry (with `seq`). */
  prev?: string;
}

/** An approval object (docs/DESIGN.md "Approvals"). */
export interface Approval {
  /** The approval's id. */
  id: string;
  /** The approver's id. */
  approver: string;
  /** The submitter it is for. */
  submitter: string;
  /** The actor it is for (`actor.id`). */
  actor?: string;
  /** 1–16 exact action names. */
  actions: string[];
  /** A target id or glob. */
  target: string;
  /** The target's system. */
  system?: string;
  /** The credential fingerprint. */
  fingerprint?: string;
  /** RFC 3339 start of validity. */
  not_before: string;
  /** RFC 3339 end of validity. */
  not_after: string;
  /** Uses (default 1). */
  max_uses?: number;
  /** 1–8 references. */
  refs?: string[];
}

/** A signed approval, as carried in a submission's `approvals`. */
export interface SignedApproval {
  /** The approval object. */
  approval: Approval;
  /** Base64 Ed25519 signature by the approver. */
  signature: string;
}

/** A submission: what `POST /v1/entries` takes. */
export interface Submission {
  /** The event. */
  event: ProvisioningEvent;
  /** The submitter id. */
  submitter: string;
  /** Base64 Ed25519 signature. */
  signature: string;
  /** 2 (bound to the log's origin); absent or 1 for version 1. */
  signature_version?: 1 | 2;
  /** 1–8 signed approvals. */
  approvals?: SignedApproval[];
}

const FINGERPRINT = /^sha256:[0-9a-f]{64}$/;
const ACTIONS = new Set(["issue", "rotate", "revoke", "bind", "unbind", "grant", "expire"]);
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** Whether `s` is a credential fingerprint `sha256:<64 lowercase hex>`. */
export function isFingerprint(s: unknown): s is string {
  return typeof s === "string" && FINGERPRINT.test(s);
}

/** The fingerprint of credential material: `sha256:` ‖ hex(SHA-256(bytes)). */
export function fingerprintOf(material: Uint8Array | string): string {
  const b = typeof material === "string" ? utf8(material) : material;
  return `sha256:${Array.from(sha256(b), (x) => x.toString(16).padStart(2, "0")).join("")}`;
}

function ident(v: unknown, what: string): void {
  if (typeof v !== "string" || v.length === 0 || utf8(v).length > 1024 || /[\u0000-\u001f\u007f]/.test(v)) {
    throw new Error(`${what} must be 1-1024 bytes without control characters`);
  }
}

function only(o: Record<string, unknown>, allowed: string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new Error(`unknown field ${what}.${k}`);
    if (o[k] === null) throw new Error(`${what}.${k} is null (leave it out)`);
  }
}

/**
 * Checks an event against the schema (the checks a client can make; the
 * log checks again). Returns it unchanged.
 * @throws Error naming the first field that is wrong.
 */
export function validateEvent(e: ProvisioningEvent): ProvisioningEvent {
  const o = e as unknown as Record<string, unknown>;
  only(o, ["event_id", "occurred_at", "action", "actor", "target", "authority", "decision", "outcome", "credential", "details", "seq", "prev"], "event");
  if (typeof e.event_id !== "string" || !/^[\x21-\x7e]{1,128}$/.test(e.event_id)) throw new Error("event_id must be 1-128 ASCII characters 0x21-0x7E");
  if (typeof e.occurred_at !== "string" || !RFC3339.test(e.occurred_at)) throw new Error("occurred_at must be an RFC 3339 time");
  if (typeof e.action !== "string" || !(ACTIONS.has(e.action) || /^x-[a-z0-9][a-z0-9._-]{0,62}$/.test(e.action))) throw new Error(`action ${JSON.stringify(e.action)} is not an action`);
  for (const [f, allowed] of [["actor", ["id", "type"]], ["target", ["id", "type", "system"]]] as const) {
    const v = o[f] as Record<string, unknown> | undefined;
    if (!v || typeof v !== "object") throw new Error(`${f} is required`);
    only(v, [...allowed], f);
    ident(v["id"], `${f}.id`);
    ident(v["type"], `${f}.type`);
    if (v["system"] !== undefined) ident(v["system"], `${f}.system`);
  }
  if (!e.authority || typeof e.authority !== "object") throw new Error("authority is required ({} allowed)");
  only(e.authority as Record<string, unknown>, ["approval_id", "approved_by", "scope"], "authority");
  for (const [k, v] of Object.entries(e.authority)) ident(v, `authority.${k}`);
  if (!e.decision || (e.decision.result !== "allow" && e.decision.result !== "deny")) throw new Error("decision.result must be allow or deny");
  only(e.decision as unknown as Record<string, unknown>, ["result", "policy_id", "policy_version"], "decision");
  if (e.decision.policy_id !== undefined) ident(e.decision.policy_id, "decision.policy_id");
  if (e.decision.policy_version !== undefined) ident(e.decision.policy_version, "decision.policy_version");
  if (e.outcome !== "success" && e.outcome !== "failure") throw new Error("outcome must be success or failure");
  if (e.credential !== undefined) {
    only(e.credential as unknown as Record<string, unknown>, ["fingerprint", "previous_fingerprint", "not_after"], "credential");
    if (!isFingerprint(e.credential.fingerprint)) throw new Error("credential.fingerprint must be sha256:<64 lowercase hex>");
    if (e.credential.previous_fingerprint !== undefined && !isFingerprint(e.credential.previous_fingerprint)) throw new Error("credential.previous_fingerprint must be a fingerprint");
    if (e.credential.not_after !== undefined && !RFC3339.test(e.credential.not_after)) throw new Error("credential.not_after must be an RFC 3339 time");
  }
  if (e.details !== undefined && (typeof e.details !== "object" || Array.isArray(e.details) || e.details === null)) throw new Error("details must be an object");
  if ((e.seq === undefined) !== (e.prev === undefined)) throw new Error("seq and prev go together");
  if (e.seq !== undefined) {
    if (!Number.isSafeInteger(e.seq) || e.seq < 1) throw new Error("seq must be 1 ... 2^53-1");
    b64decode(e.prev as string, 32, "prev");
  }
  return e;
}

/** The RFC 8785 canonical bytes of an event: what is signed and logged. */
export function eventBytes(event: ProvisioningEvent): Uint8Array {
  return canonicalBytes(event);
}

/** The version 1 signing message: `provlog/event/v1\n` ‖ JCS(event). */
export function signingMessageV1(event: ProvisioningEvent): Uint8Array {
  return concat(utf8("provlog/event/v1\n"), eventBytes(event));
}

/** The version 2 signing message: `provlog/event/v2\n` ‖ origin ‖ `\n` ‖ JCS(event). */
export function signingMessageV2(event: ProvisioningEvent, origin: string): Uint8Array {
  return concat(utf8(`provlog/event/v2\n${origin}\n`), eventBytes(event));
}

/** Options of {@link signSubmission}. */
export interface SignOptions {
  /** The submitter id registered with the log. */
  submitter: string;
  /** The submitter's Ed25519 key. */
  key: SignerKey;
  /**
   * The log's origin (`GET /v1/log` `origin`): a version 2 signature, valid
   * in that log only. Leave out for version 1 (refused by logs that require
   * origin binding).
   */
  origin?: string;
  /** Signed approvals to carry. */
  approvals?: SignedApproval[];
  /** Skip {@link validateEvent} (default false). */
  skipValidation?: boolean;
}

/** Signs an event into a submission (version 2 when `origin` is given). */
export function signSubmission(event: ProvisioningEvent, opts: SignOptions): Submission {
  if (opts.key.alg !== ALG_ED25519) throw new Error("a submitter key is an Ed25519 (type 0x01) key");
  if (!opts.skipValidation) validateEvent(event);
  const msg = opts.origin === undefined ? signingMessageV1(event) : signingMessageV2(event, opts.origin);
  const sub: Submission = { event, submitter: opts.submitter, signature: b64encode(opts.key.sign(msg)) };
  if (opts.origin !== undefined) sub.signature_version = 2;
  if (opts.approvals !== undefined) sub.approvals = opts.approvals;
  return sub;
}

/** Checks a submission's signature with the submitter's key (`origin` for version 2). */
export function verifySubmission(sub: Submission, key: VerifierKey, origin?: string): boolean {
  const v = sub.signature_version ?? 1;
  let sig: Uint8Array;
  try {
    sig = b64decode(sub.signature, 64);
  } catch {
    return false;
  }
  if (v === 2) return origin !== undefined && key.verify(signingMessageV2(sub.event, origin), sig);
  return v === 1 && key.verify(signingMessageV1(sub.event), sig);
}

/** The approval signing message: `provlog/approval/v1\n` ‖ origin ‖ `\n` ‖ JCS(approval). */
export function approvalMessage(approval: Approval, origin: string): Uint8Array {
  return concat(utf8(`provlog/approval/v1\n${origin}\n`), canonicalBytes(approval));
}

/** SHA-256 of JCS(approval): what the log records uses under. */
export function approvalDigest(approval: Approval): Uint8Array {
  return sha256(canonicalBytes(approval));
}

/** An approver signs an approval for one log (its origin). */
export function signApproval(approval: Approval, key: SignerKey, origin: string): SignedApproval {
  if (key.alg !== ALG_ED25519) throw new Error("an approver key is an Ed25519 (type 0x01) key");
  return { approval, signature: b64encode(key.sign(approvalMessage(approval, origin))) };
}

/** Checks a signed approval with the approver's key for `origin`. */
export function verifyApproval(a: SignedApproval, key: VerifierKey, origin: string): boolean {
  try {
    return key.verify(approvalMessage(a.approval, origin), b64decode(a.signature, 64));
  } catch {
    return false;
  }
}

/**
 * A fluent builder of events with sensible defaults (`occurred_at` now,
 * `authority` `{}`, `decision` allow, `outcome` success).
 *
 * @example
 * const e = new EventBuilder("issue-42", "issue")
 *   .actor("github-actions/onboard", "workflow")
 *   .target("svc-payments", "service_account", "gcp")
 *   .credential("sha256:…", { not_after: "2027-01-01T00:00:00Z" })
 *   .build();
 */
export class EventBuilder {
  private readonly e: Partial<ProvisioningEvent> & Record<string, unknown>;

  /**
   * @param eventId - the idempotency key.
   * @param action - what is done.
   */
  constructor(eventId: string, action: Action) {
    this.e = { event_id: eventId, action, authority: {}, decision: { result: "allow" }, outcome: "success" };
  }
  /** Sets `occurred_at` (a Date or RFC 3339 string; default: now, to the second). */
  occurredAt(t: Date | string): this {
    this.e.occurred_at = typeof t === "string" ? t : t.toISOString().replace(/\.\d{3}Z$/, "Z");
    return this;
  }
  /** Sets `actor`. */
  actor(id: string, type: string): this {
    this.e.actor = { id, type };
    return this;
  }
  /** Sets `target`. */
  target(id: string, type: string, system?: string): this {
    this.e.target = system === undefined ? { id, type } : { id, type, system };
    return this;
  }
  /** Sets `authority`. */
  authority(a: Authority): this {
    this.e.authority = a;
    return this;
  }
  /** Sets `decision`. */
  decision(result: "allow" | "deny", policyId?: string, policyVersion?: string): this {
    const d: Decision = { result };
    if (policyId !== undefined) d.policy_id = policyId;
    if (policyVersion !== undefined) d.policy_version = policyVersion;
    this.e.decision = d;
    return this;
  }
  /** Sets `outcome`. */
  outcome(o: "success" | "failure"): this {
    this.e.outcome = o;
    return this;
  }
  /** Sets `credential`. */
  credential(fingerprint: string, more: Omit<Credential, "fingerprint"> = {}): this {
    this.e.credential = { fingerprint, ...more };
    return this;
  }
  /** Sets `details`. */
  details(d: Record<string, unknown>): this {
    this.e.details = d;
    return this;
  }
  /** Sets the chain position (`seq`, `prev`); see {@link ChainState}. */
  chain(seq: number, prev: string): this {
    this.e.seq = seq;
    this.e.prev = prev;
    return this;
  }
  /** The validated event. */
  build(): ProvisioningEvent {
    if (this.e.occurred_at === undefined) this.occurredAt(new Date());
    return validateEvent({ ...this.e } as ProvisioningEvent);
  }
}
