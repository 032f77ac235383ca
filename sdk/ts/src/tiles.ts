/**
 * C2SP tlog-tiles: paths, entry bundles, and a verified read of entries
 * against a checkpoint's root (docs/SPECS.md §4, `tlog/src/tile.rs`).
 * @module
 */
import { b64encode, equal } from "./bytes.js";
import { VerificationError } from "./errors.js";
import { leafHash, nodeHash, rootOf } from "./merkle.js";
import type { Checkpoint } from "./note.js";

/** Hashes in a full tile, entries in a full bundle. */
export const TILE_WIDTH = 256;

/** The tlog-tiles encoding of an index: 3-digit groups, all but the last prefixed `x`. */
export function encodeIndex(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new Error("a tile index is an unsigned integer");
  let s = String(n);
  s = s.padStart(Math.ceil(s.length / 3) * 3, "0");
  const groups: string[] = [];
  for (let i = 0; i < s.length; i += 3) groups.push(s.slice(i, i + 3));
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join("/");
}

/** `tile/<L>/<N>[.p/<W>]` (W < 256 for a partial tile). */
export function tilePath(level: number, index: number, width = TILE_WIDTH): string {
  return `tile/${level}/${encodeIndex(index)}${width < TILE_WIDTH ? `.p/${width}` : ""}`;
}

/** `tile/entries/<N>[.p/<W>]`. */
export function bundlePath(index: number, width = TILE_WIDTH): string {
  return `tile/entries/${encodeIndex(index)}${width < TILE_WIDTH ? `.p/${width}` : ""}`;
}

/**
 * Decodes an entry bundle (u16 big-endian length ‖ bytes, repeated),
 * requiring exactly `expected` entries and nothing after them.
 * @throws VerificationError otherwise.
 */
export function decodeBundle(body: Uint8Array, expected: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let p = 0;
  while (p < body.length) {
    if (p + 2 > body.length) throw new VerificationError("a truncated bundle length");
    const n = ((body[p] as number) << 8) | (body[p + 1] as number);
    p += 2;
    if (p + n > body.length) throw new VerificationError("a truncated bundle entry");
    out.push(body.subarray(p, p + n));
    p += n;
  }
  if (out.length !== expected) throw new VerificationError(`the bundle holds ${out.length} entries, not ${expected}`);
  return out;
}

/** Fetches a path of the tile API; `null` for 404. */
export type TileFetcher = (path: string) => Promise<Uint8Array | null>;

/** An entry read from tiles and verified against a checkpoint. */
export interface VerifiedEntry {
  /** Its index. */
  index: number;
  /** Its bytes. */
  entry: Uint8Array;
  /** Its leaf hash. */
  leafHash: Uint8Array;
  /** Its leaf hash, base64. */
  leafHashB64: string;
}

/** Reads tiles and bundles of a tree of one size, with a small cache. */
export class TileReader {
  private readonly cache = new Map<string, Uint8Array>();

  /**
   * @param fetcher - fetches tile API paths.
   * @param size - the tree size (of a verified checkpoint).
   */
  constructor(private readonly fetcher: TileFetcher, readonly size: number) {}

  private async get(path: string, fallback: string | null): Promise<Uint8Array> {
    const c = this.cache.get(path);
    if (c) return c;
    let b = await this.fetcher(path);
    if (b === null && fallback !== null) b = await this.fetcher(fallback);
    if (b === null) throw new VerificationError(`${path}: not found`);
    if (this.cache.size >= 64) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(path, b);
    return b;
  }

  /** The hash of the perfect node at height `h`, index `i`, from tiles (not yet authenticated). */
  async node(h: number, i: number): Promise<Uint8Array> {
    const T = Math.floor(h / 8);
    const r = h % 8;
    const per = 2 ** (8 - r);
    const t = Math.floor(i / per);
    const pos = (i % per) * 2 ** r;
    const count = 2 ** r;
    const full = (t + 1) * 256 ** (T + 1) <= this.size;
    const width = full ? TILE_WIDTH : Math.floor(this.size / 256 ** T) % 256;
    if (pos + count > width) throw new VerificationError(`node ${h}/${i} is beyond the tree`);
    const body = await this.get(tilePath(T, t, width), width < TILE_WIDTH ? tilePath(T, t) : null);
    if (body.length < width * 32 || (width < TILE_WIDTH && body.length !== width * 32 && body.length !== TILE_WIDTH * 32) || (width === TILE_WIDTH && body.length !== TILE_WIDTH * 32)) {
      throw new VerificationError(`tile ${T}/${t}: ${body.length} bytes`);
    }
    const hashes: Uint8Array[] = [];
    for (let k = pos; k < pos + count; k++) hashes.push(body.subarray(32 * k, 32 * k + 32));
    return rootOf(hashes);
  }

  /** The entries of bundle `b` (as many as the tree holds), not yet authenticated. */
  async bundle(b: number): Promise<Uint8Array[]> {
    const width = Math.min(TILE_WIDTH, this.size - b * TILE_WIDTH);
    if (width <= 0) throw new VerificationError(`bundle ${b} is beyond the tree`);
    const path = bundlePath(b, width);
    let body = await this.fetcher(path);
    if (body !== null) return decodeBundle(body, width);
    if (width === TILE_WIDTH) throw new VerificationError(`${path}: not found`);
    body = await this.fetcher(bundlePath(b));
    if (body === null) throw new VerificationError(`${path}: not found`);
    return decodeBundle(body, TILE_WIDTH).slice(0, width);
  }

  /**
   * Verifies that `leaves` are the leaf hashes at `[a, a + leaves.length)`
   * of the tree whose root is `root`: the root is recomputed from them and
   * from tile hashes for the rest of the tree.
   * @throws VerificationError when the root differs.
   */
  async verifyRange(a: number, leaves: readonly Uint8Array[], root: Uint8Array): Promise<void> {
    const b = a + leaves.length;
    const N = this.size;
    if (b > N) throw new VerificationError("the range is beyond the tree");
    const range = async (lo: number, hi: number): Promise<Uint8Array> => {
      const n = hi - lo;
      if (lo >= a && hi <= b) return rootOf(leaves.slice(lo - a, hi - a));
      const perfect = (n & (n - 1)) === 0 || Number.isInteger(Math.log2(n));
      if ((hi <= a || lo >= b) && perfect && lo % n === 0) return this.node(Math.log2(n), lo / n);
      let k = 1;
      while (k * 2 < n) k *= 2;
      return nodeHash(await range(lo, lo + k), await range(lo + k, hi));
    };
    if (N === 0 || !equal(await range(0, N), root)) throw new VerificationError("the entries and tiles do not make the checkpoint's root");
  }
}

/**
 * Reads entries `[start, end)` of the tree of a verified checkpoint from the
 * tile API, one bundle at a time, and yields each only after its bundle was
 * verified against the checkpoint's root.
 * @throws VerificationError when a bundle or tile does not agree with the root.
 */
export async function* verifiedEntries(fetcher: TileFetcher, checkpoint: Pick<Checkpoint, "size" | "root">, start = 0, end = checkpoint.size): AsyncGenerator<VerifiedEntry> {
  const reader = new TileReader(fetcher, checkpoint.size);
  const stop = Math.min(end, checkpoint.size);
  for (let b = Math.floor(start / TILE_WIDTH); b * TILE_WIDTH < stop; b++) {
    const entries = await reader.bundle(b);
    const leaves = entries.map(leafHash);
    await reader.verifyRange(b * TILE_WIDTH, leaves, checkpoint.root);
    for (let k = 0; k < entries.length; k++) {
      const index = b * TILE_WIDTH + k;
      if (index < start || index >= stop) continue;
      const lh = leaves[k] as Uint8Array;
      yield { index, entry: entries[k] as Uint8Array, leafHash: lh, leafHashB64: b64encode(lh) };
    }
  }
}
