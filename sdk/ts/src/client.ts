/**
 * An HTTP client of a provlog server: submissions with idempotent retries,
 * proofs, credential and chain answers, search and verified tile reads.
 * @module
 */
import { b64decode, b64encode } from "./bytes.js";
import { leafHash } from "./merkle.js";
import { ProvlogError, VerificationError } from "./errors.js";
import type { Submission } from "./event.js";
import type { VerifierKey } from "./keys.js";
import { openCheckpoint, type VerifiedCheckpoint, type WitnessPolicy } from "./note.js";
import { verifiedEntries, type VerifiedEntry } from "./tiles.js";
import {
  type AnswerRequirements,
  type ChainAnswer,
  type CredentialAnswer,
  type Receipt,
  type ReceiptOptions,
  type VerifiedCredential,
  type VerifiedReceipt,
  verifyCredentialAnswer,
  verifyReceipt,
} from "./verify.js";

/** Options of a {@link Client}. */
export interface ClientOptions {
  /** The `fetch` to use (default the platform's). */
  fetch?: typeof fetch;
  /** Timeout of one attempt, ms (default 30,000). */
  timeoutMs?: number;
  /** Retries after the first attempt, for 503/429/502/504, network errors and timeouts (default 5). */
  retries?: number;
  /** First backoff, ms, doubled per retry (default 200). */
  backoffMs?: number;
  /** Longest wait between attempts, ms, `Retry-After` included (default 10,000). */
  maxBackoffMs?: number;
  /** Extra headers sent with every request. */
  headers?: Record<string, string>;
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts the call (no retry after it fires). */
  signal?: AbortSignal;
}

/** The answer to one submission. */
export interface SubmitResult {
  /** 201 for a new entry, 200 for a retry of a logged one. */
  status: 200 | 201;
  /** The receipt. */
  receipt: Receipt;
}

/** One item of a batch answer: a receipt or an error. */
export type BatchItem = { status: 200 | 201; receipt: Receipt; error?: undefined } | { status: number; receipt?: undefined; error: ProvlogError };

/** `GET /v1/log`. */
export interface LogInfo {
  /** The checkpoint origin (sign version 2 submissions with it). */
  origin: string;
  /** The log's vkey (as the server says: pin your own). */
  vkey: string;
  /** The tree size. */
  tree_size: number;
  /** Everything else. */
  [k: string]: unknown;
}

/** Search filters of `GET /v1/events`. */
export interface SearchFilters {
  /** `target.id`. */
  target?: string;
  /** `actor.id`. */
  actor?: string;
  /** A fingerprint (`credential.fingerprint` or `previous_fingerprint`). */
  credential?: string;
  /** An action. */
  action?: string;
  /** The last index already seen (exclusive). */
  after?: number;
  /** Page size 1–1,000. */
  limit?: number;
}

/** An entry as `/v1/entries/<i>` and search answer it. */
export interface EntryObject {
  /** Its index. */
  index: number;
  /** Base64 leaf hash. */
  leaf_hash: string;
  /** Base64 bytes. */
  entry: string;
  /** The leaf JSON. */
  decoded: Record<string, unknown>;
}

const RETRY_STATUS = new Set([429, 502, 503, 504]);

/** Parses `Retry-After` (seconds or an HTTP date) into ms. */
export function retryAfterMs(h: string | null, now = Date.now()): number | undefined {
  if (h === null) return undefined;
  if (/^\d+$/.test(h.trim())) return Number(h.trim()) * 1000;
  const t = Date.parse(h);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * A client of one provlog log.
 *
 * Every request is retried (with exponential backoff, honouring
 * `Retry-After`) on 429, 502, 503, 504, network errors and timeouts: safe
 * for submissions, since a retry of the same event is the same entry.
 */
export class Client {
  /** The base URL, without a trailing slash. */
  readonly baseUrl: string;
  private readonly f: typeof fetch;
  private readonly o: Required<Omit<ClientOptions, "fetch" | "headers">> & { headers: Record<string, string> };

  /**
   * @param baseUrl - e.g. `http://127.0.0.1:8080`.
   * @param opts - transport options.
   */
  constructor(baseUrl: string, opts: ClientOptions = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, "");
    this.f = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.o = {
      timeoutMs: opts.timeoutMs ?? 30_000,
      retries: opts.retries ?? 5,
      backoffMs: opts.backoffMs ?? 200,
      maxBackoffMs: opts.maxBackoffMs ?? 10_000,
      headers: opts.headers ?? {},
    };
  }

  /**
   * One request with retries. Answers with a status below 500 other than
   * 429 are returned as they are, as are the last attempt's.
   * @throws ProvlogError (`status` 0) when no attempt got an answer.
   */
  async request(method: string, path: string, body?: unknown, call: CallOptions = {}): Promise<{ status: number; headers: Headers; body: Uint8Array }> {
    const url = `${this.baseUrl}/${path.replace(/^\/+/, "")}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    let lastErr: unknown;
    for (let attempt = 0; ; attempt++) {
      if (call.signal?.aborted) throw new ProvlogError(0, "aborted", "the call was aborted", { cause: call.signal.reason });
      const timeout = AbortSignal.timeout(this.o.timeoutMs);
      const signal = call.signal ? AbortSignal.any([call.signal, timeout]) : timeout;
      let wait: number | undefined;
      try {
        const headers: Record<string, string> = { ...this.o.headers };
        if (payload !== undefined) headers["content-type"] = "application/json";
        const res = await this.f(url, { method, headers, body: payload, signal });
        const bytes = new Uint8Array(await res.arrayBuffer());
        if (!RETRY_STATUS.has(res.status) || attempt >= this.o.retries) {
          return { status: res.status, headers: res.headers, body: bytes };
        }
        wait = retryAfterMs(res.headers.get("retry-after"));
        lastErr = undefined;
      } catch (e) {
        if (call.signal?.aborted) throw new ProvlogError(0, "aborted", "the call was aborted", { cause: e });
        lastErr = e;
        if (attempt >= this.o.retries) {
          const timedOut = timeout.aborted;
          throw new ProvlogError(0, timedOut ? "timeout" : "network", `${method} ${url}: ${timedOut ? "timed out" : (e as Error).message}`, { cause: e });
        }
      }
      const backoff = Math.min(this.o.maxBackoffMs, this.o.backoffMs * 2 ** attempt);
      await sleep(Math.min(this.o.maxBackoffMs, wait ?? backoff), call.signal).catch((e: unknown) => {
        throw new ProvlogError(0, "aborted", "the call was aborted", { cause: e ?? lastErr });
      });
    }
  }

  /** A request whose success is JSON with one of `ok` statuses; anything else is a {@link ProvlogError}. */
  async json<T>(method: string, path: string, body?: unknown, ok: number[] = [200], call: CallOptions = {}): Promise<{ status: number; value: T }> {
    const r = await this.request(method, path, body, call);
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder().decode(r.body));
    } catch {
      if (ok.includes(r.status)) throw new ProvlogError(r.status, "malformed_answer", "the answer is not JSON");
      throw new ProvlogError(r.status, `http_${r.status}`, `HTTP ${r.status}`);
    }
    if (!ok.includes(r.status)) throw ProvlogError.fromBody(r.status, value);
    return { status: r.status, value: value as T };
  }

  /** `POST /v1/entries`: one submission → its receipt (201 new, 200 a retry). */
  async submit(submission: Submission, call: CallOptions = {}): Promise<SubmitResult> {
    const { status, value } = await this.json<Receipt>("POST", "/v1/entries", submission, [200, 201], call);
    return { status: status as 200 | 201, receipt: value };
  }

  /** Submits and verifies the receipt with the log's key (and options). */
  async submitVerified(submission: Submission, logKey: VerifierKey | string, opts: ReceiptOptions = {}, call: CallOptions = {}): Promise<SubmitResult & { verified: VerifiedReceipt }> {
    const r = await this.submit(submission, call);
    return { ...r, verified: verifyReceipt(r.receipt, logKey, opts) };
  }

  /** `POST /v1/entries/batch`: 1–1,000 submissions → one result each, in order. */
  async submitBatch(submissions: Submission[], call: CallOptions = {}): Promise<BatchItem[]> {
    const { value } = await this.json<{ results: { status: number; receipt?: Receipt; error?: unknown }[] }>("POST", "/v1/entries/batch", { submissions }, [200], call);
    if (!Array.isArray(value.results) || value.results.length !== submissions.length) throw new ProvlogError(200, "malformed_answer", "the batch answer does not have one result per submission");
    return value.results.map((r): BatchItem => (r.receipt !== undefined && (r.status === 200 || r.status === 201) ? { status: r.status, receipt: r.receipt } : { status: r.status, error: ProvlogError.fromBody(r.status, { error: r.error }) }));
  }

  /** `GET /v1/log`. */
  async log(call: CallOptions = {}): Promise<LogInfo> {
    return (await this.json<LogInfo>("GET", "/v1/log", undefined, [200], call)).value;
  }

  /** `GET /checkpoint`: the latest checkpoint note (unverified). */
  async checkpointNote(call: CallOptions = {}): Promise<string> {
    const r = await this.request("GET", "/checkpoint", undefined, call);
    if (r.status !== 200) throw new ProvlogError(r.status, `http_${r.status}`, `GET /checkpoint: HTTP ${r.status}`);
    return new TextDecoder().decode(r.body);
  }

  /** `GET /checkpoint`, verified with the log key and witness policy. */
  async checkpoint(logKey: VerifierKey | string, policy: WitnessPolicy = {}, call: CallOptions = {}): Promise<VerifiedCheckpoint> {
    return openCheckpoint(await this.checkpointNote(call), logKey, policy);
  }

  /** `GET /v1/proofs/consistency?from=M&to=N`: the proof hashes. */
  async consistencyProof(from: number, to: number, call: CallOptions = {}): Promise<Uint8Array[]> {
    const { value } = await this.json<{ from: number; to: number; proof: string[] }>("GET", `/v1/proofs/consistency?from=${from}&to=${to}`, undefined, [200], call);
    if (value.from !== from || value.to !== to || !Array.isArray(value.proof)) throw new VerificationError("the consistency answer is for other sizes");
    return value.proof.map((p) => b64decode(p, 32, "a consistency proof hash"));
  }

  /** `GET /v1/entries/<i>/receipt[?witnessed=true]`. */
  async receipt(index: number, witnessed = false, call: CallOptions = {}): Promise<Receipt> {
    return (await this.json<Receipt>("GET", `/v1/entries/${index}/receipt${witnessed ? "?witnessed=true" : ""}`, undefined, [200], call)).value;
  }

  /** `GET /v1/credentials/<fp>` as answered (unverified). */
  async credentialAnswer(fingerprint: string, q: { at?: number; history?: boolean } = {}, call: CallOptions = {}): Promise<CredentialAnswer> {
    const p = new URLSearchParams();
    if (q.history) p.set("history", "true");
    if (q.at !== undefined) p.set("at", String(q.at));
    const qs = p.toString();
    return (await this.json<CredentialAnswer>("GET", `/v1/credentials/${encodeURIComponent(fingerprint)}${qs ? `?${qs}` : ""}`, undefined, [200], call)).value;
  }

  /**
   * The state of a credential, verified (docs/MAP.md "Verifying an
   * answer"): with `asOfEntry`, as of that entry (`?at=`).
   * @throws VerificationError when the answer does not verify.
   */
  async credential(fingerprint: string, logKey: VerifierKey | string, req: AnswerRequirements & { history?: boolean }, call: CallOptions = {}): Promise<VerifiedCredential> {
    const q: { at?: number; history?: boolean } = {};
    if (req.asOfEntry !== undefined) q.at = req.asOfEntry;
    if (req.history) q.history = true;
    const a = await this.credentialAnswer(fingerprint, q, call);
    return verifyCredentialAnswer(a, fingerprint, logKey, req);
  }

  /** `GET /v1/chains/<submitter>[?from=]` (unverified; see `verifyChainAnswer`). */
  async chain(submitter: string, from?: number, call: CallOptions = {}): Promise<ChainAnswer> {
    return (await this.json<ChainAnswer>("GET", `/v1/chains/${encodeURIComponent(submitter)}${from === undefined ? "" : `?from=${from}`}`, undefined, [200], call)).value;
  }

  /**
   * `GET /v1/events?…`, every page, following `next_after`. Each entry's
   * leaf hash is checked against its bytes (inclusion is not: read with
   * {@link Client.entries} for entries proven against a checkpoint).
   */
  async *search(filters: SearchFilters = {}, call: CallOptions = {}): AsyncGenerator<EntryObject> {
    let after = filters.after;
    for (;;) {
      const p = new URLSearchParams();
      for (const k of ["target", "actor", "credential", "action", "limit"] as const) if (filters[k] !== undefined) p.set(k, String(filters[k]));
      if (after !== undefined) p.set("after", String(after));
      const qs = p.toString();
      const { value } = await this.json<{ entries: EntryObject[]; next_after: number | null }>("GET", `/v1/events${qs ? `?${qs}` : ""}`, undefined, [200], call);
      for (const e of value.entries) {
        if (b64encode(leafHash(b64decode(e.entry))) !== e.leaf_hash) throw new VerificationError(`search entry ${e.index}: the leaf hash is not the entry's`);
        yield e;
      }
      if (value.next_after === null || value.next_after === undefined) return;
      if (after !== undefined && value.next_after <= after) throw new VerificationError("next_after does not advance");
      after = value.next_after;
    }
  }

  /** A tile API fetcher over this client (`null` for 404). */
  tileFetcher(call: CallOptions = {}): (path: string) => Promise<Uint8Array | null> {
    return async (path: string) => {
      const r = await this.request("GET", `/${path}`, undefined, call);
      if (r.status === 404) return null;
      if (r.status !== 200) throw new ProvlogError(r.status, `http_${r.status}`, `GET /${path}: HTTP ${r.status}`);
      return r.body;
    };
  }

  /**
   * Entries from the tile API, each verified against `checkpoint` (default:
   * the latest, verified with `logKey`) before it is yielded.
   */
  async *entries(logKey: VerifierKey | string, opts: { start?: number; end?: number; checkpoint?: VerifiedCheckpoint } & WitnessPolicy = {}, call: CallOptions = {}): AsyncGenerator<VerifiedEntry> {
    const cp = opts.checkpoint ?? (await this.checkpoint(logKey, opts, call));
    yield* verifiedEntries(this.tileFetcher(call), cp, opts.start ?? 0, opts.end ?? cp.size);
  }
}
