/**
 * The automerge-repo network protocol at /v1/automerge, exercised with real
 * `Repo`s and the stock `WebSocketClientAdapter` on two regions started
 * in-process and gossiping, and with raw sockets for hostile frames.
 */
import { Repo, type DocHandle } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { Encoder } from "cbor-x";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { poll } from "./processes.ts";
import { rawSocket, startStockCluster, tokens, type StockCluster } from "./stock-regions.ts";

let cluster: StockCluster;
const repos: Repo[] = [];
const cbor = new Encoder({ tagUint8Array: false, useRecords: false });

beforeAll(async () => {
  // No periodic anti-entropy: a round counted below was asked for by the doc-unavailable path.
  cluster = await startStockCluster(["a", "b"], { gossip: { antiEntropyIntervalMs: 3_600_000 } });
});

afterAll(async () => {
  for (const repo of repos) await repo.shutdown().catch(() => {});
  await cluster?.stop();
});

function repo(region: string, token: string = tokens.writer): Repo {
  const r = new Repo({ network: [new WebSocketClientAdapter(cluster.wsUrl(region, `/v1/automerge?token=${token}`))] });
  repos.push(r);
  return r;
}

type Items = { items: string[] };

/** Waits until region `r` holds the document (what a user sharing a URL after their edit synced would see). */
const storedIn = (r: string, id: string) =>
  poll(`${id} in ${r}`, async () => ((await cluster.regions.get(r)!.replica.read(id).catch(() => undefined)) ? true : undefined));

describe("automerge-repo on two regions", () => {
  it("converges two Repos on two regions on a document one of them created", async () => {
    const a = repo("a");
    const b = repo("b");
    const handleA: DocHandle<Items> = a.create<Items>({ items: ["from a"] });
    await storedIn("a", handleA.documentId);
    const handleB = await b.find<Items>(handleA.url);
    expect(await poll("a's item on b", async () => (handleB.doc()?.items?.includes("from a") ? true : undefined))).toBe(true);
    handleB.change((d) => void d.items.push("from b"));
    expect(await poll("b's item on a", async () => (handleA.doc()?.items?.includes("from b") ? true : undefined))).toBe(true);
    // Durable in both regions under the documented id: the automerge: URL without its scheme.
    for (const r of ["a", "b"]) {
      const value = await poll(`stored in ${r}`, async () => {
        const v = (await cluster.regions.get(r)!.replica.read(handleA.documentId)).value as Items;
        return v.items?.length === 2 ? v : undefined;
      });
      expect([...value.items].sort()).toEqual(["from a", "from b"]);
    }
  });

  it("answers a request for an unknown id with doc-unavailable once the other regions were asked", async () => {
    const offline = new Repo({ network: [] });
    repos.push(offline);
    const unknown = offline.create({ never: "shared" }).url;
    const rounds = () => cluster.regions.get("a")!.replica.stats().replication?.peers.b?.antiEntropyRounds ?? 0;
    const before = rounds();
    const c = repo("a");
    await expect(c.find(unknown)).rejects.toThrow(/unavailable/i);
    expect(rounds()).toBeGreaterThan(before);
  });

  it("relays ephemeral messages to a Repo on another region", async () => {
    const a = repo("a");
    const b = repo("b");
    const handleA = a.create<Items>({ items: [] });
    await storedIn("a", handleA.documentId);
    const handleB = await b.find<Items>(handleA.url);
    const seen: unknown[] = [];
    handleB.on("ephemeral-message", (event) => void seen.push(event.message));
    const cursor = await poll("a cursor on b", async () => {
      handleA.broadcast({ cursor: 7 });
      return seen.find((m) => (m as { cursor?: number }).cursor === 7);
    });
    expect(cursor).toEqual({ cursor: 7 });
  });

  it("refuses a read-only token's changes and leaves the document unchanged", async () => {
    const a = repo("a");
    const handle = a.create<Items>({ items: ["kept"] });
    await poll("stored", async () => (((await cluster.regions.get("a")!.replica.read(handle.documentId).catch(() => undefined))?.value as Items | undefined)?.items?.length === 1 ? true : undefined));
    const reader = repo("a", tokens.reader);
    const readHandle = await reader.find<Items>(handle.url);
    expect(readHandle.doc()?.items).toEqual(["kept"]);
    readHandle.change((d) => void d.items.push("READER"));
    handle.change((d) => void d.items.push("writer"));
    await poll("the writer's change stored", async () => (((await cluster.regions.get("a")!.replica.read(handle.documentId)).value as Items).items.length === 2 ? true : undefined));
    expect(((await cluster.regions.get("a")!.replica.read(handle.documentId)).value as Items).items).toEqual(["kept", "writer"]);
  });
});

describe("hostile automerge-repo frames", () => {
  const join = () => cbor.encode({ type: "join", senderId: "hostile-peer", peerMetadata: {}, supportedProtocolVersions: ["1"] });
  const cases: Array<{ name: string; frames: () => Array<Uint8Array | string>; code: number }> = [
    { name: "non-CBOR bytes", frames: () => [new Uint8Array([0xff, 0xfe, 0x00, 0x13])], code: 4400 },
    { name: "a sync before join", frames: () => [cbor.encode({ type: "sync", senderId: "x", targetId: "y", documentId: "abc", data: new Uint8Array([1]) })], code: 4400 },
    { name: "a mutated sync message", frames: () => [join(), cbor.encode({ type: "sync", senderId: "hostile-peer", targetId: "concord-a", documentId: "hostile-doc", data: new Uint8Array([0x42, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]) })], code: 4400 },
    { name: "an unsupported protocol version", frames: () => [cbor.encode({ type: "join", senderId: "p", peerMetadata: {}, supportedProtocolVersions: ["9"] })], code: 4400 },
    { name: "a 10 MB frame", frames: () => [new Uint8Array(10 * 1024 * 1024)], code: 4413 },
  ];
  for (const { name, frames, code } of cases) {
    it(`closes on ${name} with ${code}`, async () => {
      const socket = rawSocket(cluster.wsUrl("a", `/v1/automerge?token=${tokens.writer}`));
      await socket.opened;
      for (const frame of frames()) socket.ws.send(frame);
      expect((await socket.closed).code).toBe(code);
    });
  }

  it("answers join with peer, and a missing token with 4401", async () => {
    const socket = rawSocket(cluster.wsUrl("b", `/v1/automerge?token=${tokens.writer}`));
    await socket.opened;
    socket.ws.send(join());
    const peer = cbor.decode(await socket.next(() => true, "peer message")) as Record<string, unknown>;
    expect(peer).toMatchObject({ type: "peer", senderId: "concord-b", targetId: "hostile-peer", selectedProtocolVersion: "1" });
    socket.ws.close();
    expect((await rawSocket(cluster.wsUrl("b", "/v1/automerge")).closed).code).toBe(4401);
  });
});
