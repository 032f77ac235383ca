import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import {
  ChainState,
  CheckpointTracker,
  Client,
  EventBuilder,
  ForkError,
  ProvlogError,
  SignerKey,
  VerifierKey,
  parseLeaf,
  parseNote,
  signNote,
  signSubmission,
  verifyChainAnswer,
  verifyCredentialAnswer,
  verifyReceipt,
  verifyRefusal,
  type ProvisioningEvent,
} from "../src/index.js";
import { FileCheckpointStore } from "../src/node.js";
import { ROOT } from "./util.js";
import { proxy, readKeyFile, send, startServer, type Running } from "./server.js";

const fp = (c: string): string => `sha256:${c.repeat(64)}`;
const MAX_AGE = 10 * 60_000;

function ev(id: string, action: ProvisioningEvent["action"], target: string, f: string, more: Partial<ProvisioningEvent> = {}): ProvisioningEvent {
  const b = new EventBuilder(id, action).occurredAt("2026-12-04T10:00:00Z").actor("wf/ts-sdk", "workflow").target(target, "service_account", "gcp");
  return { ...b.credential(f, action === "revoke" ? {} : { not_after: "2099-01-01T00:00:00Z" }).build(), ...more };
}

describe("README quick start against a dev server", () => {
  let s: Running;
  before(async () => (s = await startServer()));
  after(async () => s.stop());
  it("runs as written and prints the verified entry", async () => {
    const readme = readFileSync(join(ROOT, "sdk/ts/README.md"), "utf8");
    const m = /## Quick start[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme);
    assert.ok(m, "a ts block under Quick start");
    const code = (m[1] as string)
      .replaceAll('"@provlog/sdk"', JSON.stringify(pathToFileURL(join(fileURLToPath(new URL(".", import.meta.url)), "../src/index.js")).href))
      .replaceAll("http://127.0.0.1:8080", s.url)
      .replaceAll("provlog-data/", `${s.data}/`);
    assert.ok(code.split("\n").filter((l) => l.trim()).length <= 12, "about ten lines");
    const file = join(s.dir, "quickstart.mjs");
    writeFileSync(file, code);
    const { stdout } = await promisify(execFile)(process.execPath, [file]);
    assert.match(stdout, /^OK: entry \d+ in checkpoint localhost\/provlog of size \d+\n$/);
  });
});

describe("against a real server", () => {
  let s: Running;
  let c: Client;
  let log: VerifierKey;
  let origin: string;
  const ci = SignerKey.generate("ci");
  const seq = SignerKey.generate("seq");
  const sign = (e: ProvisioningEvent, k = ci, sub = "ci") => signSubmission(e, { submitter: sub, key: k, origin });

  before(async () => {
    s = await startServer(
      () =>
        `[[submitters]]\nid = "ci"\nkey = "${ci.verifier()}"\nactions = ["issue", "rotate", "revoke"]\ntargets = ["svc-*"]\n\n` +
        `[[submitters]]\nid = "seq"\nkey = "${seq.verifier()}"\nactions = ["*"]\ntargets = ["*"]\nsequenced = true\n`,
    );
    c = new Client(s.url, { backoffMs: 50 });
    log = VerifierKey.parse(readKeyFile(join(s.data, "log.vkey")));
    origin = (await c.log()).origin;
    assert.equal(origin, log.name);
  });
  after(async () => s.stop());

  it("submits, retries idempotently and reports a conflict", async () => {
    const sub = sign(ev("ts-issue-1", "issue", "svc-a", fp("a")));
    const r1 = await c.submit(sub);
    assert.equal(r1.status, 201);
    const v = verifyReceipt(r1.receipt, log, { submitterKey: ci.verifier() });
    assert.equal(v.leaf.kind, "event");
    const r2 = await c.submit(sub);
    assert.equal(r2.status, 200);
    assert.equal(r2.receipt.index, r1.receipt.index);
    verifyReceipt(r2.receipt, log);
    const other = sign(ev("ts-issue-1", "issue", "svc-a", fp("b")));
    await assert.rejects(c.submit(other), (e: unknown) => e instanceof ProvlogError && e.status === 409 && e.code === "event_id_conflict");
  });

  it("returns a signed refusal that verifies", async () => {
    const sub = sign(ev("ts-refused-1", "issue", "prod-db", fp("9")));
    const err = await c.submit(sub).then(() => null, (e: unknown) => e as ProvlogError);
    assert.ok(err instanceof ProvlogError);
    assert.equal(err.status, 403);
    assert.equal(err.code, "out_of_scope");
    assert.ok(err.refusal);
    verifyRefusal(err.refusal, log, sub);
    assert.throws(() => verifyRefusal(err.refusal!, log, sign(ev("ts-refused-2", "issue", "prod-db", fp("9")))));
  });

  it("submits a batch with a result per item", async () => {
    const good = [sign(ev("ts-b-1", "issue", "svc-b1", fp("c"))), sign(ev("ts-b-2", "issue", "svc-b2", fp("d")))];
    const badSig = { ...sign(ev("ts-b-3", "issue", "svc-b3", fp("e"))), signature: sign(ev("ts-b-x", "issue", "svc-b3", fp("e"))).signature };
    const res = await c.submitBatch([...good, badSig, good[0]!]);
    assert.equal(res.length, 4);
    assert.equal(res[0]!.status, 201);
    assert.equal(res[1]!.status, 201);
    assert.equal(res[2]!.status, 401);
    assert.equal(res[2]!.error?.code, "bad_signature");
    assert.ok([200, 201].includes(res[3]!.status));
    for (const i of [0, 1, 3]) verifyReceipt(res[i]!.receipt!, log);
    assert.equal(res[3]!.receipt!.index, res[0]!.receipt!.index);
  });

  it("verifies credential answers: active, superseded, revoked, unknown, historical", async () => {
    await c.submit(sign(ev("ts-rot-1", "rotate", "svc-a", fp("f"), { credential: { fingerprint: fp("f"), previous_fingerprint: fp("a") } })));
    const rv = await c.submit(sign(ev("ts-rev-1", "revoke", "svc-b1", fp("c"))));
    const req = { maxAgeMs: MAX_AGE };
    assert.equal((await c.credential(fp("f"), log, req)).state, "active");
    assert.equal((await c.credential(fp("a"), log, req)).state, "superseded");
    assert.equal((await c.credential(fp("c"), log, req)).state, "revoked");
    assert.equal((await c.credential(fp("0"), log, req)).state, "unknown");
    const h = await c.credential(fp("c"), log, { ...req, history: true });
    assert.equal(h.history.length, 2);
    const past = await c.credential(fp("c"), log, { ...req, asOfEntry: rv.receipt.index });
    assert.equal(past.state, "active", "before its revoke was committed");
    const a = await c.credentialAnswer(fp("f"));
    assert.throws(() => verifyCredentialAnswer(a, fp("f"), log, { maxAgeMs: MAX_AGE, nowMs: Date.now() + MAX_AGE + 60_000 }));
  });

  it("fails verification of answers tampered by a proxy", async () => {
    const rewrite = (f: (b: string) => string) =>
      proxy(s.url, async (_req, _body, res, forward) => {
        const r = await forward();
        send(res, { ...r, body: f(r.body.toString()) });
      });
    const flipProof = (b: string): string => {
      const j = JSON.parse(b) as { map_proof: string };
      const raw = Buffer.from(j.map_proof, "base64");
      raw[raw.length - 1]! ^= 1;
      j.map_proof = raw.toString("base64");
      return JSON.stringify(j);
    };
    for (const f of [(b: string) => b.replaceAll('"active"', '"revoked"'), flipProof]) {
      const p = await rewrite(f);
      try {
        const pc = new Client(p.url, { retries: 0 });
        const raw = await pc.credentialAnswer(fp("f"));
        assert.notDeepEqual(raw, await c.credentialAnswer(fp("f")), "the proxy changed the answer");
        await assert.rejects(pc.credential(fp("f"), log, { maxAgeMs: MAX_AGE }), /does not verify|not the record/);
      } finally {
        await p.close();
      }
    }
  });

  it("follows a sequenced chain from the registered head", async () => {
    const chain = await ChainState.fromLog(c, "seq", log, { maxAgeMs: MAX_AGE });
    assert.equal(chain.seq, 0);
    for (let n = 1; n <= 3; n++) {
      const e = chain.apply(ev(`ts-seq-${n}`, "issue", `seq-${n}`, fp(String(n))));
      const r = await c.submit(sign(e, seq, "seq"));
      chain.advance(r.receipt, log);
      assert.equal(chain.seq, n);
      assert.equal(chain.head, r.receipt.leaf_hash);
    }
    // A gap is refused with the expected link.
    const gap = { ...ev("ts-seq-gap", "issue", "seq-gap", fp("7")), seq: 9, prev: chain.head };
    await assert.rejects(c.submit(sign(gap, seq, "seq")), (e: unknown) => e instanceof ProvlogError && e.status === 409 && e.code.startsWith("chain_"));
    const again = await ChainState.fromLog(c, "seq", log, { maxAgeMs: MAX_AGE });
    assert.deepEqual(again.toJSON(), chain.toJSON());
    const a = await c.chain("seq");
    assert.throws(() => verifyChainAnswer({ ...a, record: { ...a.record!, seq: 2 } }, "seq", log, { maxAgeMs: MAX_AGE }));
  });

  it("reads every entry through the tile iterator, verified", async () => {
    const cp = await c.checkpoint(log);
    const seen: number[] = [];
    for await (const e of c.entries(log, { checkpoint: cp })) {
      seen.push(e.index);
      parseLeaf(e.entry);
    }
    assert.deepEqual(seen, [...Array(cp.size).keys()]);
    const tail: number[] = [];
    for await (const e of c.entries(log, { checkpoint: cp, start: cp.size - 3 })) tail.push(e.index);
    assert.deepEqual(tail, [cp.size - 3, cp.size - 2, cp.size - 1]);
    // A proxy changing one byte of a bundle makes the read fail.
    const p = await proxy(s.url, async (req, _b, res, forward) => {
      const r = await forward();
      if (req.url?.startsWith("/tile/entries/")) r.body[10]! ^= 1;
      send(res, r);
    });
    try {
      await assert.rejects(async () => {
        for await (const _ of new Client(p.url, { retries: 0 }).entries(log, { checkpoint: cp })) void _;
      });
    } finally {
      await p.close();
    }
  });

  it("searches following next_after", async () => {
    const got = [];
    for await (const e of c.search({ target: "svc-a", limit: 1 })) got.push(e);
    assert.equal(got.length, 2);
    assert.ok(got[0]!.index < got[1]!.index);
    const all = [];
    for await (const e of c.search({ limit: 5 })) all.push(e.index);
    const cp = await c.checkpoint(log);
    assert.equal(all.length, cp.size);
  });

  it("keeps a checkpoint store across growth, refusing rollbacks and forks", async () => {
    const store = new FileCheckpointStore(join(s.dir, "state", "checkpoint"));
    const t = new CheckpointTracker(store, log, c);
    const first = await t.refresh();
    await c.submit(sign(ev("ts-grow-1", "issue", "svc-g", fp("8"))));
    const second = await t.refresh();
    assert.ok(second.size > first.size);
    const t2 = new CheckpointTracker(new FileCheckpointStore(join(s.dir, "state", "checkpoint")), log, c);
    assert.equal((await t2.current())!.size, second.size, "the file remembers");
    await assert.rejects(t2.update(first.note), ForkError);
    await t2.update(first.note, { allowOlder: true });
    // A fork: the log key signs another root for a larger size.
    const logSkey = SignerKey.parse(readKeyFile(join(s.data, "log.skey")));
    const text = parseNote(second.note).text.split("\n");
    const forged = (size: number, root: string) => signNote(`${text[0]}\n${size}\n${root}\n`, [logSkey]);
    await assert.rejects(t2.update(forged(second.size, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")), ForkError);
    const r = await c.submit(sign(ev("ts-grow-2", "issue", "svc-g2", fp("6"))));
    const size = r.receipt.index + 1;
    await assert.rejects(t2.update(forged(size, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")), ForkError);
    assert.equal((await t2.current())!.size, second.size, "a fork is not stored");
    await assert.rejects(t2.update(forged(size, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").replace(/ [^ ]+\n$/, " AAAA\n")));
    const third = await t2.refresh();
    assert.ok(third.size >= size);
  });

  it("retries a 503 with Retry-After, and a dropped connection", async () => {
    let n = 0;
    const p = await proxy(s.url, async (_req, _b, res, forward) => {
      n++;
      if (n === 1) {
        res.statusCode = 503;
        res.setHeader("retry-after", "1");
        res.setHeader("content-type", "application/json");
        res.end('{"error":{"code":"overloaded","message":"full"}}');
        return;
      }
      if (n === 2) {
        res.socket?.destroy();
        return;
      }
      send(res, await forward());
    });
    try {
      const t0 = Date.now();
      const r = await new Client(p.url, { backoffMs: 50 }).submit(sign(ev("ts-503-1", "issue", "svc-503", fp("5"))));
      assert.equal(r.status, 201);
      assert.equal(n, 3);
      assert.ok(Date.now() - t0 >= 950, "waited for Retry-After");
      verifyReceipt(r.receipt, log);
      n = 0;
      const none = new Client(p.url, { retries: 0 });
      await assert.rejects(none.submit(sign(ev("ts-503-2", "issue", "svc-503", fp("4")))), (e: unknown) => e instanceof ProvlogError && e.status === 503 && e.code === "overloaded");
    } finally {
      await p.close();
    }
  });

  it("times out with an AbortSignal", async () => {
    const p = await proxy(s.url, () => new Promise<void>(() => undefined));
    try {
      const t = new Client(p.url, { timeoutMs: 200, retries: 1, backoffMs: 10 });
      await assert.rejects(t.log(), (e: unknown) => e instanceof ProvlogError && e.code === "timeout");
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      await assert.rejects(new Client(p.url).log({ signal: ac.signal }), (e: unknown) => e instanceof ProvlogError && e.code === "aborted");
    } finally {
      await p.close();
    }
  });
});
