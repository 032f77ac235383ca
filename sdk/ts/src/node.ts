/**
 * Node-only parts: a file-backed checkpoint store and key files.
 * Import from `@provlog/sdk/node`.
 * @module
 */
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { SignerKey, VerifierKey } from "./keys.js";
import type { CheckpointStore } from "./store.js";

/** A {@link CheckpointStore} in one file, replaced atomically (write, fsync by rename). */
export class FileCheckpointStore implements CheckpointStore {
  /** @param path - the file (created with its directory on first save). */
  constructor(readonly path: string) {}

  /** @inheritDoc */
  async load(): Promise<string | null> {
    try {
      return await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw e;
    }
  }

  /** @inheritDoc */
  async save(note: string): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, note, { encoding: "utf8", flush: true });
    await rename(tmp, this.path);
  }
}

/** Reads a private key file (one skey). */
export async function readSignerKey(path: string): Promise<SignerKey> {
  return SignerKey.parse((await readFile(path, "utf8")).trim());
}

/** Reads a vkey file. */
export async function readVerifierKey(path: string): Promise<VerifierKey> {
  return VerifierKey.parse((await readFile(path, "utf8")).trim());
}

/** Writes a private key file (mode 0600) and its vkey beside it, as provlog does: `name.skey` → `name.vkey`. */
export async function writeSignerKey(path: string, key: SignerKey): Promise<void> {
  await writeFile(path, `${key.toString()}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  const vpath = path.endsWith(".skey") ? `${path.slice(0, -5)}.vkey` : `${path}.vkey`;
  await writeFile(vpath, `${key.verifier().toString()}\n`);
}
