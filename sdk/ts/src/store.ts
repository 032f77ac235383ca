/**
 * Checkpoint stores: remember the last verified checkpoint and accept a new
 * one only when it extends it (a consistency proof), refusing forks and
 * rollbacks.
 * @module
 */
import { b64decode } from "./bytes.js";
import type { Client } from "./client.js";
import { VerificationError } from "./errors.js";
import type { VerifierKey } from "./keys.js";
import { verifyConsistency } from "./merkle.js";
import { openCheckpoint, type VerifiedCheckpoint, type WitnessPolicy } from "./note.js";

/** Where the last verified checkpoint note is kept. */
export interface CheckpointStore {
  /** The stored note, or null when there is none. */
  load(): Promise<string | null>;
  /** Replaces the stored note. */
  save(note: string): Promise<void>;
}

/** A {@link CheckpointStore} in memory. */
export class MemoryCheckpointStore implements CheckpointStore {
  private note: string | null;
  /** @param initial - a note to start from. */
  constructor(initial: string | null = null) {
    this.note = initial;
  }
  /** @inheritDoc */
  async load(): Promise<string | null> {
    return this.note;
  }
  /** @inheritDoc */
  async save(note: string): Promise<void> {
    this.note = note;
  }
}

/** Thrown when a log shows a checkpoint that does not extend the stored one. */
export class ForkError extends VerificationError {
  /** @param message - what disagreed. */
  constructor(message: string, readonly stored: VerifiedCheckpoint, readonly shown: VerifiedCheckpoint) {
    super(message);
    this.name = "ForkError";
  }
}

/**
 * Follows one log: verifies each checkpoint it is shown and keeps the
 * largest, requiring every new one to be consistent with the stored one.
 */
export class CheckpointTracker {
  /**
   * @param store - where the last verified checkpoint lives.
   * @param logKey - the log's vkey.
   * @param client - fetches consistency proofs.
   * @param policy - witness policy every checkpoint must meet.
   */
  constructor(
    readonly store: CheckpointStore,
    readonly logKey: VerifierKey | string,
    readonly client: Pick<Client, "consistencyProof" | "checkpointNote">,
    readonly policy: WitnessPolicy = {},
  ) {}

  /** The stored checkpoint, verified again, or null. */
  async current(): Promise<VerifiedCheckpoint | null> {
    const n = await this.store.load();
    return n === null ? null : openCheckpoint(n, this.logKey, this.policy);
  }

  /**
   * Verifies `note` and checks it against the stored checkpoint: a larger
   * one must be proven consistent (`GET /v1/proofs/consistency`) and is
   * stored; the same size must have the same root; a smaller one is a
   * rollback (refused) unless `allowOlder`, when it must be consistent with
   * the stored one (which stays).
   * @throws ForkError for a fork or a rollback; VerificationError for a bad note or proof.
   */
  async update(note: string, opts: { allowOlder?: boolean } = {}): Promise<VerifiedCheckpoint> {
    const shown = openCheckpoint(note, this.logKey, this.policy);
    const stored = await this.current();
    if (stored === null) {
      await this.store.save(note);
      return shown;
    }
    if (shown.size === stored.size) {
      if (!sameRoot(shown, stored)) throw new ForkError(`fork: two roots for size ${shown.size}`, stored, shown);
      return shown;
    }
    const [older, newer] = shown.size < stored.size ? [shown, stored] : [stored, shown];
    if (shown.size < stored.size && !opts.allowOlder) {
      throw new ForkError(`rollback: size ${shown.size} after ${stored.size}`, stored, shown);
    }
    if (older.size > 0) {
      const proof = await this.client.consistencyProof(older.size, newer.size);
      try {
        verifyConsistency(older.size, newer.size, older.root, newer.root, proof);
      } catch (e) {
        throw new ForkError(`fork: size ${older.size} is not consistent with size ${newer.size}: ${(e as Error).message}`, stored, shown);
      }
    }
    if (shown.size > stored.size) await this.store.save(note);
    return shown;
  }

  /** Fetches the log's latest `/checkpoint` and {@link CheckpointTracker.update}s with it. */
  async refresh(): Promise<VerifiedCheckpoint> {
    return this.update(await this.client.checkpointNote());
  }
}

function sameRoot(a: VerifiedCheckpoint, b: VerifiedCheckpoint): boolean {
  return a.root.length === b.root.length && a.root.every((x, i) => x === b.root[i]);
}

/** Decodes base64 proof hashes (a helper for stored proofs). */
export function decodeProof(proof: readonly string[]): Uint8Array[] {
  return proof.map((p) => b64decode(p, 32, "a proof hash"));
}
