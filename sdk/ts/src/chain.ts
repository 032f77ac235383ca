/**
 * A sequenced submitter's chain (docs/CHAINS.md): the next `seq`/`prev`,
 * advanced from each receipt's `leaf_hash`.
 * @module
 */
import { b64decode } from "./bytes.js";
import type { Client } from "./client.js";
import { VerificationError } from "./errors.js";
import type { ProvisioningEvent } from "./event.js";
import type { VerifierKey } from "./keys.js";
import type { EventLeaf } from "./leaf.js";
import { type AnswerRequirements, type Receipt, verifyChainAnswer, verifyReceipt } from "./verify.js";

/** The persisted form of a {@link ChainState}. */
export interface ChainStateJSON {
  /** The submitter. */
  submitter: string;
  /** Position of the last entry (0 before the first). */
  seq: number;
  /** Base64 leaf hash of the last entry (or the registration's). */
  head: string;
}

/**
 * The head of one submitter's chain. A sequenced submitter has one entry in
 * flight at a time: call {@link ChainState.next} (or {@link ChainState.apply}),
 * submit, then {@link ChainState.advance} with the receipt.
 */
export class ChainState {
  /** The submitter. */
  readonly submitter: string;
  private s: number;
  private h: string;

  /**
   * @param submitter - the submitter id.
   * @param seq - the position of its last entry (0 for none).
   * @param head - base64 leaf hash of that entry (of the registration for 0).
   */
  constructor(submitter: string, seq: number, head: string) {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new Error("seq is an unsigned integer");
    b64decode(head, 32, "head");
    this.submitter = submitter;
    this.s = seq;
    this.h = head;
  }

  /**
   * The chain's head as the log has it (`GET /v1/chains/<submitter>`
   * `record`). With `logKey` (and `req`), the answer is verified first.
   * @throws Error when the submitter is not sequenced.
   */
  static async fromLog(client: Client, submitter: string, logKey?: VerifierKey | string, req: AnswerRequirements = { maxAgeMs: 10 * 60_000 }): Promise<ChainState> {
    const a = await client.chain(submitter);
    const record = logKey === undefined ? a.record : verifyChainAnswer(a, submitter, logKey, req).record;
    if (!record) throw new Error(`${submitter} has no chain (not a sequenced submitter)`);
    return new ChainState(submitter, record.seq, record.head);
  }

  /** Restores a persisted state. */
  static fromJSON(j: ChainStateJSON): ChainState {
    return new ChainState(j.submitter, j.seq, j.head);
  }

  /** The persisted form. */
  toJSON(): ChainStateJSON {
    return { submitter: this.submitter, seq: this.s, head: this.h };
  }

  /** The position of the last entry. */
  get seq(): number {
    return this.s;
  }

  /** The base64 leaf hash of the last entry. */
  get head(): string {
    return this.h;
  }

  /** The next link: `{seq, prev}` for the next event. */
  next(): { seq: number; prev: string } {
    return { seq: this.s + 1, prev: this.h };
  }

  /** A copy of `event` carrying the next link. */
  apply(event: ProvisioningEvent): ProvisioningEvent {
    return { ...event, ...this.next() };
  }

  /**
   * Advances past the entry of `receipt`, which must carry the next link
   * (checked in the entry when it can be read; with `logKey`, the receipt
   * is verified first).
   * @throws VerificationError when the receipt is not the next link.
   */
  advance(receipt: Receipt, logKey?: VerifierKey | string): void {
    let leafHash = receipt.leaf_hash;
    if (logKey !== undefined) {
      const v = verifyReceipt(receipt, logKey);
      leafHash = v.leafHashB64;
      if (v.leaf.kind !== "event") throw new VerificationError("the receipt is not of an event");
      const ev = (v.leaf as EventLeaf).event;
      if ((v.leaf as EventLeaf).submitter !== this.submitter || ev.seq !== this.s + 1 || ev.prev !== this.h) {
        throw new VerificationError(`the receipt's entry is not position ${this.s + 1} after ${this.h}`);
      }
    }
    b64decode(leafHash, 32, "leaf_hash");
    this.s += 1;
    this.h = leafHash;
  }
}
