/**
 * Error types of the SDK.
 * @module
 */

/** A verification that failed: the input must not be trusted. */
export class VerificationError extends Error {
  /** @param message - what failed. */
  constructor(message: string) {
    super(message);
    this.name = "VerificationError";
  }
}

/** A signed refusal as carried in an error body: `{"refusal":{…},"signature":"…"}`. */
export interface SignedRefusal {
  /** The refusal object the log signed. */
  refusal: Refusal;
  /** Base64 Ed25519 signature by the log key over `provlog/refusal/v1\n ‖ JCS(refusal)`. */
  signature: string;
}

/** The members of a refusal (docs/REFUSALS.md "Format"). */
export interface Refusal {
  /** Format version, 1. */
  v: number;
  /** The log's origin (the signing key's name). */
  origin: string;
  /** `event` or `heartbeat`. */
  kind: string;
  /** Base64 SHA-256 of JCS(submission). */
  submission: string;
  /** The submitter it authenticated as. */
  submitter: string;
  /** For an event, its `event_id`. */
  event_id?: string;
  /** The error code. */
  code: string;
  /** The error message. */
  message: string;
  /** Index of the policy leaf of the registry it was judged under. */
  policy_index: number;
  /** When, by the log's clock (RFC 3339 UTC, ms). */
  refused_at: string;
  /** The published tree size at the time. */
  tree_size: number;
}

/**
 * An error answered by a provlog server (`{"error":{"code","message",…}}`),
 * or a transport failure (`status` 0, `code` `network`/`timeout`).
 */
export class ProvlogError extends Error {
  /** The HTTP status, 0 for a transport failure. */
  readonly status: number;
  /** The error code (`event_id_conflict`, `out_of_scope`, `network`, …). */
  readonly code: string;
  /** The signed refusal, for refusals of authority. */
  readonly refusal: SignedRefusal | undefined;
  /** The expected chain link, for chain refusals. */
  readonly expected: unknown;
  /** The whole `error` object as answered. */
  readonly body: unknown;

  /**
   * @param status - HTTP status (0: no answer).
   * @param code - error code.
   * @param message - error message.
   * @param extra - refusal, expected link and raw body.
   */
  constructor(
    status: number,
    code: string,
    message: string,
    extra: { refusal?: SignedRefusal | undefined; expected?: unknown; body?: unknown; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = "ProvlogError";
    this.status = status;
    this.code = code;
    this.refusal = extra.refusal;
    this.expected = extra.expected;
    this.body = extra.body;
  }

  /** Builds one from an `error` object of an answer. */
  static fromBody(status: number, body: unknown): ProvlogError {
    const e = (body as { error?: Record<string, unknown> } | null)?.error;
    if (e && typeof e === "object" && typeof e["code"] === "string") {
      return new ProvlogError(status, e["code"], typeof e["message"] === "string" ? e["message"] : "", {
        refusal: isSignedRefusal(e["refusal"]) ? e["refusal"] : undefined,
        expected: e["expected"],
        body: e,
      });
    }
    return new ProvlogError(status, `http_${status}`, `HTTP ${status}`, { body });
  }
}

function isSignedRefusal(v: unknown): v is SignedRefusal {
  return !!v && typeof v === "object" && typeof (v as SignedRefusal).signature === "string" &&
    !!(v as SignedRefusal).refusal && typeof (v as SignedRefusal).refusal === "object";
}
