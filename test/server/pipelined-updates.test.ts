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
});
