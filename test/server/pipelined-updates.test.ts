/**
 * A writer with 64 Yjs deltas in flight at once over real HTTP, sent in a
 * shuffled order: every one is acknowledged (none refused as invalid_update)
 * and the document holds exactly the writer's text.
 */
import type { AddressInfo } from "node:net";
import { serve, type ServerType } from "@hono/node-server";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createServer } from "../../src/server/app.ts";
import { deltaSequenceType, encodeDeltaSequence } from "../../src/server/delta-sequence.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

let replica: Replica;
let server: ServerType;
let url: string;

beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
  server = serve({ fetch: createServer(replica).fetch, port: 0, hostname: "127.0.0.1" });
  await new Promise((resolve) => server.once("listening", resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/docs`;
});
afterEach(async () => {
  (server as { closeAllConnections?: () => void }).closeAllConnections?.();
  await new Promise((resolve) => server.close(resolve));
  await replica.close();
});

describe("pipelined updates over HTTP", () => {
  it("acknowledges 64 shuffled deltas of one writer sent at once, content exact", async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 100_000);
    console.log(`pipelined-updates seed ${seed} (SEED=${seed} to repeat)`);
    const random = createSeededRandom(seed);
    expect((await fetch(`${url}/doc`, { method: "PUT", body: JSON.stringify({ kind: "yjs" }), headers: { "content-type": "application/json" } })).status).toBe(201);
    const client = yjsClient(4242);
    const deltas = Array.from({ length: 64 }, (_, i) => client.insert(`${i},`, random.int(client.doc.getText("text").length + 1)));
    const order = deltas.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = random.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const responses = await Promise.all(order.map((i) => fetch(`${url}/doc/updates`, {
      method: "POST", body: deltas[i] as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/octet-stream" },
    })));
    const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ changed?: boolean; error?: unknown }>));
    expect(responses.map((r) => r.status)).toEqual(order.map(() => 200));
    expect(bodies.every((b) => b.changed === true)).toBe(true);
    const read = (await (await fetch(`${url}/doc`)).json()) as { value: unknown };
    expect(read.value).toEqual({ text: client.doc.getText("text").toString() });
  });

  const put = () => fetch(`${url}/doc`, { method: "PUT", body: JSON.stringify({ kind: "yjs" }), headers: { "content-type": "application/json" } });
  const postSequence = (body: Uint8Array, headers: Record<string, string> = {}) => fetch(`${url}/doc/updates`, {
    method: "POST", body: body as Uint8Array<ArrayBuffer>, headers: { "content-type": deltaSequenceType, ...headers },
  });

  it("writes a whole history sent as one delta sequence, and its ack holds every delta", async () => {
    expect((await put()).status).toBe(201);
    const client = yjsClient(77);
    const deltas = Array.from({ length: 500 }, (_, i) => client.insert(String.fromCharCode(97 + (i % 26)), i));
    const response = await postSequence(encodeDeltaSequence(deltas));
    const ack = (await response.json()) as { token: string; etag: string };
    expect(response.status).toBe(200);
    expect(response.headers.get("etag")).toBe(`"${ack.etag}"`);
    const read = (await (await fetch(`${url}/doc?after=${encodeURIComponent(ack.token)}`)).json()) as { value: unknown };
    expect(read.value).toEqual({ text: client.doc.getText("text").toString() });
  });

  it("refuses bad framing before writing anything", async () => {
    expect((await put()).status).toBe(201);
    const client = yjsClient(78);
    const good = encodeDeltaSequence([client.insert("a", 0), client.insert("b", 1)]);
    const before = (await (await fetch(`${url}/doc`)).json()) as { version: string };
    for (const body of [good.subarray(0, good.length - 1), good.subarray(0, 2), encodeDeltaSequence([new Uint8Array(0)]), new Uint8Array(0)]) {
      const response = await postSequence(body);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("invalid_update");
    }
    const conditional = await postSequence(good, { "if-match": '"whatever"' });
    expect(conditional.status).toBe(400);
    const after = (await (await fetch(`${url}/doc`)).json()) as { version: string };
    expect(after.version).toBe(before.version);
  });

  it("names the first delta that failed and how many were written", async () => {
    expect((await put()).status).toBe(201);
    const client = yjsClient(79);
    const deltas = [client.insert("a", 0), client.insert("b", 1), Uint8Array.of(0xff, 0xff, 0xff), client.insert("c", 2)];
    const response = await postSequence(encodeDeltaSequence(deltas));
    const body = (await response.json()) as { error: { code: string; index: number; written: number } };
    expect(response.status).toBe(400);
    expect(body.error).toMatchObject({ code: "invalid_update", index: 2, written: 3 });
    const read = (await (await fetch(`${url}/doc`)).json()) as { value: unknown };
    expect(read.value).toEqual({ text: "abc" });
  });
});
