/**
 * Issue 11's HTTP rows, each beside a baseline measured in the same run:
 * 1. small-document GET, POST (binary delta) and PATCH (JSON ops) with 50
 *    connections against one region (LMDB, tokens, request log to a file),
 *    beside a bare Hono app on the same @hono/node-server driven by the same
 *    load generator. Goals: GET ≥ 60 %, writes ≥ 50 % of bare Hono's
 *    requests/s, and p99 ≤ 2× bare Hono's p99.
 * 2. GET of a large document (the automerge-paper trace, 260k edits, when
 *    ../shared holds it; else a synthetic one as large): server time per 200,
 *    per 304 and per `?format=update`, in process (app.request), beside bare
 *    Hono sending the same bytes. Goals: ≤ 1 ms per 304, ≤ 2 ms per 200.
 */
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { serve, type ServerType } from "@hono/node-server";
import { Hono } from "hono";
import * as Y from "yjs";
import { openReplica } from "../../src/node.ts";
import type { Replica } from "../../src/replica/replica.ts";
import { createServer } from "../../src/server/app.ts";
import { hashToken } from "../../src/server/auth.ts";
import { createRequestLogger } from "../../src/server/request-logger.ts";
import { createKeyFile, defaultKeyFile } from "../../src/runtime/master-key.ts";
import { tempDir } from "../helpers/replicas.ts";
import { loadTrace, table } from "./harness.ts";
import { load, loadTool, type LoadResult, type LoadSpec } from "./load-generator.ts";

const connections = 50;
const seconds = Number(process.env.BENCH_HTTP_SECONDS ?? 5);
const token = "bench-token-0123456789";
const auth = { authorization: `Bearer ${token}` };

async function listen(fetchFn: (r: Request, env: unknown) => Response | Promise<Response>): Promise<{ server: ServerType; url: string }> {
  const server = serve({ fetch: fetchFn, port: 0, hostname: "127.0.0.1" });
  await new Promise((resolve) => server.once("listening", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
const close = (server: ServerType) => new Promise((resolve) => server.close(resolve));

/** A region's replica and app as `concord serve` builds them: LMDB, tokens, the request log to a file. */
async function concordApp(dir: string) {
  await createKeyFile(defaultKeyFile(dir));
  const replica = await openReplica({ dir, region: "bench" });
  const logger = createRequestLogger({ level: "info", file: join(dir, "server.log") });
  const app = createServer(replica, { tokens: [{ name: "bench", sha256: hashToken(token), scopes: ["read", "write"] }], logger });
  return { replica, app, logger };
}

/** What bare Hono does for the same requests: parse what it must, answer a body of the same shape. */
function bareApp(small: string): Hono {
  const bare = new Hono();
  bare.get("/v1/docs/:id", (c) => c.body(small, 200, { "content-type": "application/json" }));
  bare.post("/v1/docs/:id/updates", async (c) => c.json({ id: c.req.param("id"), bytes: (await c.req.arrayBuffer()).byteLength }));
  bare.patch("/v1/docs/:id", async (c) => c.json({ id: c.req.param("id"), ops: ((await c.req.json()) as { ops: unknown[] }).ops.length }));
  return bare;
}

/** Per connection, a stream of deltas from its own Yjs client into its own document, in order. */
function deltaStreams(prefix: string, perConnection: number): LoadSpec["streams"] {
  return Array.from({ length: connections }, (_, c) => {
    const doc = new Y.Doc();
    doc.clientID = 1000 + c;
    const out: Array<{ path: string; body: Uint8Array }> = [];
    doc.on("update", (u: Uint8Array) => out.push({ path: `/v1/docs/${prefix}${c}/updates`, body: u }));
    for (let i = 0; i < perConnection; i++) doc.getMap("m").set(`k${i % 20}`, i);
    return out;
  });
}

const pct = (x: number) => `${(x * 100).toFixed(0)} %`;

function row(what: string, bare: LoadResult, concord: LoadResult, goal: number): Record<string, string | number> {
  const ratio = concord.perSecond / bare.perSecond;
  const p99 = concord.p99Ms / bare.p99Ms;
  return {
    request: what,
    "bare req/s": Math.round(bare.perSecond), "req/s": Math.round(concord.perSecond), ratio: pct(ratio), goal: `≥ ${pct(goal)}`,
    "bare p99 ms": bare.p99Ms.toFixed(2), "p99 ms": concord.p99Ms.toFixed(2), "p99 ×": p99.toFixed(2), "p99 goal": "≤ 2×",
    "p50 ms": concord.p50Ms.toFixed(2), errors: bare.errors + concord.errors,
  };
}

async function smallDocuments(): Promise<string> {
  const dir = await tempDir("concord-bench-http-");
  const { replica, app, logger } = await concordApp(dir.path);
  try {
    for (let c = 0; c < connections; c++) {
      await replica.create(`doc${c}`, "yjs");
      await replica.patch(`doc${c}`, [{ op: "set", path: ["meta", "title"], value: `document ${c}` }, { op: "insertText", path: ["body"], index: 0, text: "hello world" }]);
      await replica.create(`w${c}`, "yjs");
      await replica.create(`warm${c}`, "yjs");
    }
    const sample = JSON.stringify(await replica.read("doc0"));
    const failures = new Map<string, number>();
    const concord = await listen(async (request, env) => {
      const response = await app.fetch(request, env);
      if (response.status >= 400) {
        const key = `${request.method} ${response.status} ${await response.clone().text()}`.slice(0, 160);
        failures.set(key, (failures.get(key) ?? 0) + 1);
      }
      return response;
    });
    const bare = await listen(bareApp(sample).fetch);
    try {
      const get: LoadSpec = { method: "GET", headers: auth, seconds, streams: Array.from({ length: connections }, (_, c) => [{ path: `/v1/docs/doc${c}` }]) };
      const post: LoadSpec = { method: "POST", headers: { ...auth, "content-type": "application/octet-stream" }, seconds, streams: deltaStreams("w", Number(process.env.BENCH_DELTAS ?? 3000)) };
      // The warm-up writes to other documents, so the measured run's deltas are all new.
      const warmPost: LoadSpec = { ...post, streams: deltaStreams("warm", 1000) };
      const patchBody = (c: number, i: number) => new TextEncoder().encode(JSON.stringify({ ops: [{ op: "set", path: ["meta", `k${i % 20}`], value: i }] }));
      const patch: LoadSpec = {
        method: "PATCH", headers: { ...auth, "content-type": "application/json" }, seconds,
        streams: Array.from({ length: connections }, (_, c) => Array.from({ length: 20 }, (_, i) => ({ path: `/v1/docs/doc${c}`, body: patchBody(c, i) }))),
      };
      const rows = [];
      for (const [what, spec, goal, warm] of [["GET small document", get, 0.6, get], ["POST delta (small)", post, 0.5, warmPost], ["PATCH JSON ops (small)", patch, 0.5, patch]] as const) {
        await load(bare.url, { ...warm, seconds: 1 }); // warm-up
        await load(concord.url, { ...warm, seconds: 1 });
        const b = await load(bare.url, spec);
        const c = await load(concord.url, spec);
        rows.push(row(what, b, c, goal));
      }
      const failed = [...failures].map(([what, n]) => `\n  ${n} × ${what}`).join("");
      return `${table(rows)}${failed ? `\nfailed requests:${failed}` : ""}\n${connections} connections, ${seconds} s each; bare Hono on the same @hono/node-server; Concord on LMDB with tokens and its request log`;
    } finally {
      await Promise.all([close(concord.server), close(bare.server)]);
    }
  } finally {
    await replica.close();
    logger.flush?.();
    await dir.remove();
  }
}

/** A Yjs document of the automerge-paper trace (or a synthetic one of 260k single-character edits). */
function largeDocument(): { state: Uint8Array; source: string } {
  const doc = new Y.Doc();
  doc.clientID = 1;
  const text = doc.getText("body");
  const trace = loadTrace("automerge-paper");
  if (trace) {
    for (const txn of trace.txns) for (const [pos, del, ins] of txn.patches) {
      if (del > 0) text.delete(pos, del);
      if (ins) text.insert(pos, ins);
    }
    return { state: Y.encodeStateAsUpdate(doc), source: `automerge-paper trace, ${trace.txns.length} edits` };
  }
  // Like a person typing: mostly at a cursor that moves on, some backspaces, now and then a jump.
  let seed = 42;
  const next = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  let cursor = 0;
  for (let i = 0; i < 260_000; i++) {
    const r = next();
    if (r < 0.01) cursor = Math.floor(next() * (text.length + 1));
    else if (r < 0.1 && cursor > 0) text.delete(--cursor, 1);
    else text.insert(cursor++, "abcdefghij"[i % 10]!);
  }
  return { state: Y.encodeStateAsUpdate(doc), source: "synthetic, 260k single-character edits at a moving cursor (no trace in ../shared)" };
}

async function timePerRequest(n: number, request: () => Response | Promise<Response>, expectStatus: number): Promise<{ p50: number; p99: number }> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await request();
    await r.arrayBuffer();
    times.push(performance.now() - t);
    if (r.status !== expectStatus) throw new Error(`HTTP ${r.status}, expected ${expectStatus}`);
  }
  times.sort((a, b) => a - b);
  return { p50: times[Math.floor(n / 2)]!, p99: times[Math.min(n - 1, Math.floor(n * 0.99))]! };
}

async function largeDocumentGet(): Promise<string> {
  const dir = await tempDir("concord-bench-http-big-");
  const { replica, app, logger } = await concordApp(dir.path);
  try {
    const { state, source } = largeDocument();
    await replica.applyRemote("big", "yjs", state);
    const view = await replica.read("big");
    const body = JSON.stringify(view);
    const etag = (await app.request("/v1/docs/big", { headers: auth })).headers.get("etag")!;
    const bare = new Hono();
    bare.get("/v1/docs/:id", (c) => c.body(body, 200, { "content-type": "application/json" }));
    bare.get("/v1/docs/:id/update", (c) => c.body(state as Uint8Array<ArrayBuffer>, 200, { "content-type": "application/octet-stream" }));
    const n = Number(process.env.BENCH_BIG_GETS ?? 200);
    const measure = async (what: string, concord: () => Response | Promise<Response>, status: number, baseline: () => Response | Promise<Response>, goalMs: number | undefined) => {
      await timePerRequest(10, concord, status);
      await timePerRequest(10, baseline, 200);
      const c = await timePerRequest(n, concord, status);
      const b = await timePerRequest(n, baseline, 200);
      return { request: what, "bare p50 ms": b.p50.toFixed(3), "p50 ms": c.p50.toFixed(3), "p99 ms": c.p99.toFixed(3), "× bare": (c.p50 / b.p50).toFixed(1), goal: goalMs ? `≤ ${goalMs} ms` : "-" };
    };
    const rows = [
      await measure("GET 200", () => app.request("/v1/docs/big", { headers: auth }), 200, () => bare.request("/v1/docs/big"), 2),
      await measure("GET 304 (If-None-Match)", () => app.request("/v1/docs/big", { headers: { ...auth, "if-none-match": etag } }), 304, () => bare.request("/v1/docs/big"), 1),
      await measure("GET ?format=update", () => app.request("/v1/docs/big?format=update", { headers: auth }), 200, () => bare.request("/v1/docs/big/update"), undefined),
    ];
    const update = await app.request("/v1/docs/big?format=update", { headers: auth });
    let headerBytes = 0;
    update.headers.forEach((v, k) => void (headerBytes += k.length + v.length + 4));
    return `${table(rows)}\n${source}: JSON ${body.length} B, state ${state.length} B, ?format=update headers ${headerBytes} B; in process (app.request), ${n} sequential requests; "bare" is Hono sending the same bytes`;
  } finally {
    await replica.close();
    logger.flush?.();
    await dir.remove();
  }
}

export async function run(): Promise<string> {
  // BENCH_HTTP_PART=small or large runs one half.
  const part = process.env.BENCH_HTTP_PART;
  const small = part === "large" ? "" : `load generator: ${await loadTool()}\n\n${await smallDocuments()}\n\n`;
  return small + (part === "small" ? "" : await largeDocumentGet());
}
