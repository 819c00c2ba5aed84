/**
 * Issue 11's trace row: the automerge-paper editing trace (one Yjs update per
 * edit) written through one embedded region, LMDB, durable, with at most 64
 * writes in flight, against bare Y.Doc replay of the same updates in the same
 * run. Printed per segment of the trace, so growth with the document shows
 * (goal: ≤ 2×, flat in document size). Skipped without ../shared.
 * BENCH_TRACE_EDITS bounds the edits (default 60,000; 0 = the whole trace).
 */
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import * as Y from "yjs";
import { openReplica } from "../../src/node.ts";
import { systemRandom } from "../../src/runtime/random.ts";
import { createServer } from "../../src/server/app.ts";
import { deltaSequenceType, encodeDeltaSequence } from "../../src/server/delta-sequence.ts";
import { tempDir } from "../helpers/replicas.ts";
import { loadTrace, table, timed, type SequentialTrace } from "./harness.ts";

/** One Yjs update per edit of the trace, as its writer would send them. */
function traceUpdates(trace: SequentialTrace, edits: number): { updates: Uint8Array[]; content: string } {
  const doc = new Y.Doc();
  doc.clientID = 1;
  const text = doc.getText("text");
  const updates: Uint8Array[] = [];
  doc.on("update", (u: Uint8Array) => updates.push(u));
  for (const txn of trace.txns.slice(0, edits)) {
    doc.transact(() => {
      for (const [pos, del, ins] of txn.patches) {
        if (del > 0) text.delete(pos, del);
        if (ins) text.insert(pos, ins);
      }
    });
  }
  return { updates, content: text.toString() };
}

/** Bare replay: ms per segment. */
function bareReplay(updates: Uint8Array[], bounds: number[]): number[] {
  const doc = new Y.Doc();
  const times: number[] = [];
  let start = 0;
  for (const end of bounds) {
    const t = performance.now();
    for (let i = start; i < end; i++) Y.applyUpdate(doc, updates[i]!);
    times.push(performance.now() - t);
    start = end;
  }
  return times;
}

/** Through a region with up to `window` writes in flight: ms per segment. */
async function regionReplay(updates: Uint8Array[], bounds: number[], window: number): Promise<{ times: number[]; content: string; commits: number }> {
  const dir = await tempDir("concord-bench-trace-");
  const replica = await openReplica({ dir: dir.path, masterKey: systemRandom.bytes(32) });
  try {
    await replica.create("paper", "yjs");
    const before = replica.stats().storeBatches;
    const times: number[] = [];
    let start = 0;
    for (const end of bounds) {
      const t = performance.now();
      let next = start;
      await Promise.all(Array.from({ length: window }, async () => {
        while (next < end) await replica.update("paper", updates[next++]!);
      }));
      times.push(performance.now() - t);
      start = end;
    }
    const value = (await replica.read("paper")).value as { text?: string };
    return { times, content: value.text ?? "", commits: replica.stats().storeBatches - before };
  } finally {
    await replica.close();
    await dir.remove();
  }
}

/**
 * The same writes as POST /v1/docs/paper/updates to one region on 127.0.0.1, ≤ `window` requests in flight,
 * each carrying `perRequest` deltas (more than one: a delta sequence, src/server/delta-sequence.ts).
 */
async function httpReplay(updates: Uint8Array[], window: number, perRequest = 1): Promise<{ ms: number; content: string }> {
  const dir = await tempDir("concord-bench-trace-http-");
  const replica = await openReplica({ dir: dir.path, masterKey: systemRandom.bytes(32) });
  const server = serve({ fetch: createServer(replica).fetch, port: 0, hostname: "127.0.0.1" });
  try {
    await new Promise((resolve) => server.once("listening", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/docs/paper`;
    await replica.create("paper", "yjs");
    let next = 0;
    const { ms } = await timed(() => Promise.all(Array.from({ length: window }, async () => {
      while (next < updates.length) {
        const batch = updates.slice(next, (next += perRequest));
        const body = perRequest === 1 ? batch[0]! : encodeDeltaSequence(batch);
        const type = perRequest === 1 ? "application/octet-stream" : deltaSequenceType;
        const r = await fetch(`${url}/updates`, { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers: { "content-type": type } });
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`HTTP ${r.status} for a pipelined update`);
      }
    })));
    const value = (await replica.read("paper")).value as { text?: string };
    return { ms, content: value.text ?? "" };
  } finally {
    (server as { closeAllConnections?: () => void }).closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
    await replica.close();
    await dir.remove();
  }
}

export async function run(): Promise<string> {
  const trace = loadTrace("automerge-paper");
  if (!trace) return "skipped: ../shared/data/editing-traces (the automerge-paper trace) is not on this machine";
  const limit = Number(process.env.BENCH_TRACE_EDITS ?? 60_000);
  const edits = limit > 0 ? Math.min(limit, trace.txns.length) : trace.txns.length;
  const { updates, content } = traceUpdates(trace, edits);
  const segment = Math.max(1, Math.ceil(updates.length / 6));
  const bounds: number[] = [];
  for (let end = segment; end < updates.length; end += segment) bounds.push(end);
  bounds.push(updates.length);
  bareReplay(updates.slice(0, 2000), [2000]); // warm up
  const bare = bareReplay(updates, bounds);
  const region = await regionReplay(updates, bounds, 64);
  if (region.content !== content) throw new Error("the region's text differs from the trace replayed locally");
  const rows = bounds.map((end, i) => ({
    edits: `${i === 0 ? 0 : bounds[i - 1]}–${end}`,
    "bare edits/s": Math.round(((end - (bounds[i - 1] ?? 0)) / bare[i]!) * 1000),
    "region edits/s": Math.round(((end - (bounds[i - 1] ?? 0)) / region.times[i]!) * 1000),
    "× bare": (region.times[i]! / bare[i]!).toFixed(1),
  }));
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  rows.push({ edits: `all ${updates.length}`, "bare edits/s": Math.round((updates.length / sum(bare)) * 1000), "region edits/s": Math.round((updates.length / sum(region.times)) * 1000), "× bare": (sum(region.times) / sum(bare)).toFixed(1) });
  const httpEdits = Math.min(updates.length, Number(process.env.BENCH_TRACE_HTTP_EDITS ?? 10_000));
  const http = await httpReplay(updates.slice(0, httpEdits), 64);
  const bareHttpPart = bareReplay(updates.slice(0, httpEdits), [httpEdits])[0]!;
  const httpContent = traceUpdates(trace, httpEdits).content;
  const httpRow = `over HTTP to one region (POST /v1/docs/:id/updates, 64 in flight, pipelined), first ${httpEdits} edits: ` +
    `${Math.round((httpEdits / http.ms) * 1000)} edits/s, ${(http.ms / bareHttpPart).toFixed(1)}× bare replay of the same edits (goal: ≤ 4×, ` +
    `there until 3 regions hold endContent; this row is one region)${http.content === httpContent ? "" : " — CONTENT DIFFERS"}`;
  const sequence = await httpReplay(updates.slice(0, httpEdits), 4, 256);
  const sequenceRow = `the same as delta sequences (256 deltas per request, 4 requests in flight): ` +
    `${Math.round((httpEdits / sequence.ms) * 1000)} edits/s, ${(sequence.ms / bareHttpPart).toFixed(1)}× bare replay${sequence.content === httpContent ? "" : " — CONTENT DIFFERS"}`;
  return `automerge-paper trace, one Yjs update per edit, through one embedded region (LMDB, durable, ≤ 64 in flight) vs bare Y.Doc replay (goal: ≤ 2×, flat)
${table(rows)}
${httpRow}
${sequenceRow}
${region.commits} store commits; content checked against the local replay. BENCH_TRACE_EDITS=0 for the whole trace (${trace.txns.length} edits).`;
}
