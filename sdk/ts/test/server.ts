import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

export const BIN = process.env["PROVLOG_BIN"] ?? join(process.env["HOME"] ?? "", ".cache/provlog/target/release/provlog");

export interface Running {
  url: string;
  dir: string;
  data: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** Starts `provlog serve` on a free port; resolves once it printed its ready line. */
export async function startServer(config?: (dir: string) => string): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), "provlog-sdk-ts-"));
  const data = join(dir, "data");
  const args = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data];
  if (config) {
    const cfg = join(dir, "provlog.toml");
    writeFileSync(cfg, config(dir));
    args.push("--config", cfg);
  }
  const proc = spawn(BIN, args, { env: { ...process.env, RUST_LOG: "warn" }, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`provlog did not get ready: ${stderr}`)), 30_000);
    proc.on("exit", (c) => reject(new Error(`provlog exited ${c}: ${stderr}`)));
    createInterface({ input: proc.stdout! }).on("line", (l) => {
      if (!l.startsWith("{")) return;
      try {
        const j = JSON.parse(l) as { ready?: string; url?: string };
        if (j.ready === "log" && j.url) {
          clearTimeout(t);
          resolve(j.url);
        }
      } catch {
        /* not the ready line */
      }
    });
  });
  return {
    url,
    dir,
    data,
    proc,
    stop: async () => {
      await new Promise<void>((r) => {
        if (proc.exitCode !== null) return r();
        proc.once("exit", () => r());
        proc.kill("SIGTERM");
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function readKeyFile(path: string): string {
  return readFileSync(path, "utf8").trim();
}

export type Handler = (req: IncomingMessage, body: Buffer, res: ServerResponse, forward: () => Promise<{ status: number; headers: Headers; body: Buffer }>) => Promise<void> | void;

/** A local HTTP server in front of `target` whose handler may answer itself or forward. */
export async function proxy(target: string, handler: Handler): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const forward = async (): Promise<{ status: number; headers: Headers; body: Buffer }> => {
        const headers: Record<string, string> = {};
        if (req.headers["content-type"]) headers["content-type"] = req.headers["content-type"];
        const r = await fetch(target + (req.url ?? "/"), { method: req.method ?? "GET", headers, body: req.method === "GET" ? undefined : body });
        return { status: r.status, headers: r.headers, body: Buffer.from(await r.arrayBuffer()) };
      };
      Promise.resolve(handler(req, body, res, forward)).catch((e: unknown) => {
        res.statusCode = 599;
        res.end(String(e));
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function send(res: ServerResponse, r: { status: number; headers: Headers; body: Buffer | string }): void {
  res.statusCode = r.status;
  const ct = r.headers.get("content-type");
  if (ct) res.setHeader("content-type", ct);
  res.end(r.body);
}
