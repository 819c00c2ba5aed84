/**
 * The request log keeps document ids out: every request path naming a
 * document is logged with a short keyed hash instead of the id, through
 * every route and error, while the log still tells requests for one document
 * apart from another's.
 */
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Replica } from "../../src/replica/replica.ts";
import { createServer } from "../../src/server/app.ts";
import { logIdHash } from "../../src/server/log-paths.ts";
import { memoryReplica, yjsClient } from "../helpers/replicas.ts";

let replica: Replica;
beforeEach(async () => {
  replica = await memoryReplica({ region: "test" });
});
afterEach(async () => replica.close());

const json = (method: string, body: unknown) => ({ method, body: JSON.stringify(body), headers: { "content-type": "application/json" } });

describe("request log", () => {
  it("never writes a canary document id, only its keyed hash, whatever the route or answer", async () => {
    let output = "";
    const logger = pino({ level: "info" }, { write: (line: string) => void (output += line) });
    const logKey = new Uint8Array(32).fill(7);
    const app = createServer(replica, { logger, logKey });
    const canary = "canary-5d41402abc4b2a76";
    const slashed = "team/canary-9e107d9d372bb682";
    const paths = [canary, encodeURIComponent(slashed)];

    for (const p of paths) {
      expect((await app.request(`/v1/docs/${p}`, json("PUT", { kind: "yjs" }))).status).toBe(201);
      expect((await app.request(`/v1/docs/${p}`, json("PATCH", { ops: [{ op: "set", path: ["m", "k"], value: 1 }] }))).status).toBe(200);
      const delta = yjsClient(9).insert("hi");
      expect((await app.request(`/v1/docs/${p}/updates`, { method: "POST", body: delta as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/octet-stream" } })).status).toBe(200);
      expect((await app.request(`/v1/docs/${p}`)).status).toBe(200);
      expect((await app.request(`/v1/docs/${p}`, json("PUT", { kind: "yjs" }))).status).toBe(409);
      const events = await app.request(`/v1/docs/${p}/events`);
      await events.body?.cancel();
      expect((await app.request(`/v1/docs/${p}`, { method: "DELETE" })).status).toBe(204);
      expect((await app.request(`/v1/docs/${p}`)).status).toBe(410);
    }
    expect((await app.request(`/v1/docs/${canary}-absent`)).status).toBe(404);
    expect((await app.request(`/v1/docs/${canary}/no-such-route`)).status).toBe(404);

    const lines = output.trim().split("\n").map((l) => JSON.parse(l) as { path?: string; msg: string });
    expect(lines.filter((l) => l.msg === "request").length).toBeGreaterThanOrEqual(18);
    expect(output).not.toContain("canary-");
    // One document, one hash: the log still follows a document without naming it.
    expect(lines.filter((l) => l.path === `/v1/docs/<${logIdHash(logKey, canary)}>`).length).toBe(6);
    expect(lines.filter((l) => l.path === `/v1/docs/<${logIdHash(logKey, slashed)}>/events`).length).toBe(1);
  });
});
