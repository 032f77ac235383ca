import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** The repository root (PROVLOG_ROOT, else two levels above the cwd sdk/ts). */
export const ROOT = process.env["PROVLOG_ROOT"] ?? resolve(process.cwd(), "../..");

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function vectors(name: string): any {
  return JSON.parse(readFileSync(join(ROOT, "testdata/vectors", name), "utf8"));
}

export function throwsAny(f: () => unknown): boolean {
  try {
    f();
    return false;
  } catch {
    return true;
  }
}
