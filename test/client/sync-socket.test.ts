/**
 * The region's /v1/sync endpoint, spoken to with a raw WebSocket: equal sets
 * cost one small frame, scopes and prefixes hold per document, and hostile or
 * oversized frames close the socket with a clear code and change nothing.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { holdings } from "../../src/client/holdings.ts";
import { decodeFrame, digestEntries, encodeFrame, syncCloseCodes, unpackFrames, type ClientMessage } from "../../src/client/protocol.ts";
import { hashToken } from "../../src/server/auth.ts";
import { startRegion, type RunningRegion } from "../../src/server/region.ts";
import { readTopologyFile } from "../../src/server/topology-file.ts";
import { initTopologyKeys } from "../../src/server/topology-keys.ts";
import { tempDir } from "../helpers/replicas.ts";
import { writeTopology } from "../server/processes.ts";

const full = "tok-full-0123456789";
const scoped = "tok-scoped-0123456789";
const reader = "tok-reader-0123456789";

let dir: Awaited<ReturnType<typeof tempDir>>;
let region: RunningRegion;

beforeAll(async () => {
  dir = await tempDir("concord-sync-socket-");
  const { file } = await writeTopology(dir.path, ["solo"]);
  const { topology } = await initTopologyKeys(await readTopologyFile(file), dir.path);
  region = await startRegion({
    topology, region: "solo", dataDir: join(dir.path, "solo"), port: 0,
    server: {
      tokens: [
        { name: "full", sha256: hashToken(full), scopes: ["read", "write"] },
        { name: "scoped", sha256: hashToken(scoped), scopes: ["read", "write"], prefix: "team/" },
        { name: "reader", sha256: hashToken(reader), scopes: ["read"] },
      ],
    },
  });
  await region.replica.create("team/doc", "yjs");
  await region.replica.patch("team/doc", [{ op: "set", path: ["m", "k"], value: 1 }]);
  await region.replica.create("other/doc", "automerge");
}, 120_000);

afterAll(async () => {
  await region?.stop();
  await dir?.remove();
});

interface Raw {
  ws: WebSocket;
  frames: Array<{ header: Record<string, unknown>; payload: Uint8Array; bytes: number }>;
  closed: Promise<{ code: number; reason: string }>;
  send(header: ClientMessage | Record<string, unknown>, payload?: Uint8Array): void;
  next(type: string): Promise<{ header: Record<string, unknown>; payload: Uint8Array }>;
}

async function open(token: string | undefined, via: "query" | "header" = "query"): Promise<Raw> {
  const url = `${region.url.replace("http", "ws")}/v1/sync${token && via === "query" ? `?token=${token}` : ""}`;
  const ws = new WebSocket(url, token && via === "header" ? { headers: { authorization: `Bearer ${token}` } } : {});
  const frames: Raw["frames"] = [];
  const waiters: Array<() => void> = [];
  ws.on("message", (data: Buffer) => {
    frames.push({ ...decodeFrame(new Uint8Array(data)), bytes: data.length });
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return {
    ws, frames, closed,
    send: (header, payload) => ws.send(encodeFrame(header as ClientMessage, payload)),
    async next(type) {
      for (;;) {
        const found = frames.find((f) => f.header["t"] === type);
        if (found) return found;
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

describe("/v1/sync", () => {
  it("answers a hello whose digest matches with one small frame", async () => {
    const digest = digestEntries(await holdings(region.replica, { prefix: "team/" }));
    const raw = await open(scoped, "header");
    raw.send({ t: "hello", docs: { prefix: "team/" }, digest });
    const synced = await raw.next("synced");
    expect(synced.header).toEqual({ t: "synced", region: "solo" });
    expect(raw.frames).toHaveLength(1);
    expect(raw.frames[0]!.bytes).toBeLessThan(64);
    raw.ws.close();
  });

  it("lists versions when the sets differ, sends what is wanted, and takes a delta through the write path", async () => {
    const raw = await open(full);
    raw.send({ t: "hello", docs: { ids: ["team/doc", "fresh/doc"] }, digest: "0" });
    const versions = await raw.next("versions");
    expect((versions.header["docs"] as Array<{ id: string }>).map((d) => d.id)).toEqual(["team/doc"]);
    raw.send({ t: "want", id: "team/doc" });
    const delta = await raw.next("delta");
    expect(delta.header).toMatchObject({ id: "team/doc", kind: "yjs" });
    expect(delta.payload.length).toBeGreaterThan(0);
    // A new document from the client: created on the region, then the delta applied, then acknowledged.
    const source = await import("../helpers/replicas.ts").then((m) => m.memoryReplica());
    await source.create("fresh/doc", "yjs");
    await source.patch("fresh/doc", [{ op: "set", path: ["m", "x"], value: "y" }]);
    raw.send({ t: "delta", id: "fresh/doc", kind: "yjs", seq: 7 }, await source.encodeState("fresh/doc"));
    raw.send({ t: "done" });
    const ack = await raw.next("ack");
    expect(ack.header).toMatchObject({ seq: 7, id: "fresh/doc" });
    await raw.next("synced");
    expect((await region.replica.read("fresh/doc")).value).toEqual({ m: { x: "y" } });
    const read = await fetch(`${region.url}/v1/docs/fresh%2Fdoc?after=${ack.header["token"] as string}`, { headers: { authorization: `Bearer ${full}` } });
    expect(read.status).toBe(200);
    raw.ws.close();
    await source.close();
  });

  it("sends a fresh client every document whole, in one deflated batch, then synced", async () => {
    const raw = await open(scoped);
    raw.send({ t: "hello", docs: { prefix: "team/" }, digest: "0", empty: true });
    const batch = await raw.next("batch");
    const inner = unpackFrames(batch.payload).map(decodeFrame);
    expect(inner.map((f) => f.header)).toEqual([{ t: "delta", id: "team/doc", kind: "yjs" }]);
    expect(inner[0]!.payload).toEqual(await region.replica.encodeState("team/doc"));
    await raw.next("synced");
    expect(raw.frames.map((f) => f.header["t"])).toEqual(["batch", "synced"]);
    raw.ws.close();
  });

  it("refuses unknown tokens, documents outside the token's prefix, and writes without the write scope", async () => {
    expect((await (await open(undefined)).closed).code).toBe(syncCloseCodes.unauthorized);
    expect((await (await open("nope")).closed).code).toBe(syncCloseCodes.unauthorized);
    const outside = await open(scoped);
    outside.send({ t: "hello", docs: { ids: ["team/doc", "other/doc"] }, digest: "0" });
    expect((await outside.closed).code).toBe(syncCloseCodes.forbidden);
    const widerPrefix = await open(scoped);
    widerPrefix.send({ t: "hello", docs: { prefix: "" }, digest: "0" });
    expect((await widerPrefix.closed).code).toBe(syncCloseCodes.forbidden);
    const readOnly = await open(reader);
    readOnly.send({ t: "hello", docs: { prefix: "team/" }, digest: "0" });
    await readOnly.next("versions");
    readOnly.send({ t: "delta", id: "team/doc", kind: "yjs", seq: 1 }, new Uint8Array([0, 0]));
    expect((await readOnly.closed).code).toBe(syncCloseCodes.forbidden);
    const readOnlyDelete = await open(reader);
    readOnlyDelete.send({ t: "hello", docs: { prefix: "team/" }, digest: "0" });
    await readOnlyDelete.next("versions");
    readOnlyDelete.send({ t: "delete", id: "team/doc", seq: 1 });
    expect((await readOnlyDelete.closed).code).toBe(syncCloseCodes.forbidden);
    const outsideDelete = await open(full);
    outsideDelete.send({ t: "hello", docs: { ids: ["team/doc"] }, digest: "0" });
    await outsideDelete.next("versions");
    outsideDelete.send({ t: "delete", id: "other/doc", seq: 1 });
    expect((await outsideDelete.closed).code).toBe(syncCloseCodes.forbidden);
    expect((await region.replica.status("team/doc")).state).toBe("present");
    expect((await region.replica.status("other/doc")).state).toBe("present");
  });

  it("deletes on a client's delete, acknowledges it, lists the tombstone, and tells other sockets", async () => {
    await region.replica.create("team/doomed", "yjs");
    const watcher = await open(scoped);
    watcher.send({ t: "hello", docs: { prefix: "team/" }, digest: digestEntries(await holdings(region.replica, { prefix: "team/" })) });
    await watcher.next("synced");
    const raw = await open(scoped);
    raw.send({ t: "hello", docs: { prefix: "team/" }, digest: "0" });
    await raw.next("versions");
    raw.send({ t: "delete", id: "team/doomed", seq: 3 });
    expect((await raw.next("ack")).header).toEqual({ t: "ack", seq: 3, id: "team/doomed" });
    expect((await region.replica.status("team/doomed")).state).toBe("deleted");
    expect((await watcher.next("deleted")).header).toEqual({ t: "deleted", id: "team/doomed" });
    expect(raw.frames.some((f) => f.header["t"] === "deleted")).toBe(false); // not echoed to the socket that asked
    // The next round lists it as deleted; a delta for it is settled, not refused.
    const again = await open(scoped);
    again.send({ t: "hello", docs: { prefix: "team/" }, digest: "0" });
    const listed = (await again.next("versions")).header["docs"] as Array<{ id: string; deleted?: true }>;
    expect(listed).toContainEqual({ id: "team/doomed", deleted: true });
    again.send({ t: "delta", id: "team/doomed", kind: "yjs", seq: 1 }, new Uint8Array([0, 0]));
    expect((await again.next("ack")).header).toEqual({ t: "ack", seq: 1, id: "team/doomed" });
    expect((await again.next("deleted")).header).toEqual({ t: "deleted", id: "team/doomed" });
    for (const r of [watcher, raw, again]) r.ws.close();
  });

  it("closes on hostile frames with a clear code and changes nothing", async () => {
    const before = await region.replica.read("team/doc");
    const cases: Array<[string, (raw: Raw) => void, number]> = [
      ["text frame", (raw) => raw.ws.send("hello"), syncCloseCodes.malformed],
      ["short frame", (raw) => raw.ws.send(new Uint8Array([0, 0])), syncCloseCodes.malformed],
      ["header past the end", (raw) => raw.ws.send(new Uint8Array([0, 0, 1, 0, 123])), syncCloseCodes.malformed],
      ["header not JSON", (raw) => raw.ws.send(new Uint8Array([0, 0, 0, 2, 0x7b, 0x7b])), syncCloseCodes.malformed],
      ["unknown type", (raw) => raw.send({ t: "explode" }), syncCloseCodes.malformed],
      ["malformed delete", (raw) => {
        raw.send({ t: "hello", docs: { prefix: "team/" }, digest: "0" });
        raw.send({ t: "delete", id: 7, seq: 1 });
      }, syncCloseCodes.malformed],
      ["delta before hello", (raw) => raw.send({ t: "delta", id: "team/doc", kind: "yjs", seq: 1 }, new Uint8Array([1, 2, 3])), syncCloseCodes.malformed],
      ["garbage delta", (raw) => {
        raw.send({ t: "hello", docs: { prefix: "team/" }, digest: "0" });
        raw.send({ t: "delta", id: "team/doc", kind: "yjs", seq: 1 }, new Uint8Array([9, 9, 9, 9, 9, 9]));
      }, syncCloseCodes.invalidUpdate],
      ["oversized frame", (raw) => raw.ws.send(new Uint8Array((8 << 20) + (64 << 10) + 1)), syncCloseCodes.tooLarge],
      ["too many ids", (raw) => raw.send({ t: "hello", docs: { ids: Array.from({ length: 10_001 }, (_, i) => `team/${i}`) }, digest: "0" }), syncCloseCodes.tooLarge],
    ];
    for (const [name, act, code] of cases) {
      const raw = await open(full);
      act(raw);
      expect((await raw.closed).code, name).toBe(code);
    }
    expect(await region.replica.read("team/doc")).toEqual(before);
  });

  it("sends live deltas of the set's documents to a synced socket, and none of others", async () => {
    const raw = await open(scoped);
    raw.send({ t: "hello", docs: { prefix: "team/" }, digest: digestEntries(await holdings(region.replica, { prefix: "team/" })) });
    await raw.next("synced");
    await region.replica.patch("other/doc", [{ op: "set", path: ["z"], value: 1 }]);
    await region.replica.patch("team/doc", [{ op: "set", path: ["m", "live"], value: true }]);
    const delta = await raw.next("delta");
    expect(delta.header).toMatchObject({ id: "team/doc", kind: "yjs" });
    expect(raw.frames.filter((f) => f.header["t"] === "delta")).toHaveLength(1);
    raw.ws.close();
  });
});
