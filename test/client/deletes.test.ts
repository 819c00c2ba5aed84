/**
 * Deletions with the sync client, against real `concord serve` processes (two
 * regions, tokens on): a delete on a synced device reaches its region, the
 * other region and another device; a delete made offline waits in the outbox
 * and is sent on reconnect; a delete made on a region reaches devices, live
 * or at their next catch-up (prefix and id sets alike).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SyncClient } from "../../src/client/index.ts";
import type { Replica } from "../../src/replica/replica.ts";
import { poll } from "../server/processes.ts";
import { startTokenCluster, type TokenCluster } from "./token-cluster.ts";
import { connectNode, nextEvent, openDevice, regionValueUntil, valueUntil } from "./sync-helpers.ts";

const poll0 = (what: string, check: () => boolean | Promise<boolean>) => poll(what, async () => ((await check()) ? true : undefined));
const deletedOn = (replica: Replica, id: string) => poll0(`${id} deleted on ${replica.region}`, async () => (await replica.status(id)).state === "deleted");

describe("deletes with the sync client", () => {
  let cluster: TokenCluster;
  const clients: SyncClient[] = [];
  const replicas: Replica[] = [];
  const regionStatus = async (region: string, id: string) =>
    (await fetch(`${cluster.urls[region]}/v1/docs/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${cluster.token}` } })).status;
  const goneOnRegions = (id: string) => Promise.all(["east", "west"].map((r) => poll0(`${id} gone on ${r}`, async () => (await regionStatus(r, id)) === 410)));
  const regionDelete = async (region: string, id: string) => {
    const r = await fetch(`${cluster.urls[region]}/v1/docs/${encodeURIComponent(id)}`, { method: "DELETE", headers: { authorization: `Bearer ${cluster.token}` } });
    expect(r.status).toBe(204);
  };

  beforeAll(async () => {
    cluster = await startTokenCluster(["east", "west"], "concord-sync-deletes-");
    await Promise.all([cluster.serve("east"), cluster.serve("west")]);
  }, 300_000);
  afterAll(async () => {
    for (const c of clients) await c.close();
    for (const r of replicas) await r.close().catch(() => undefined);
    await cluster?.stop();
  });

  it("sends a device's delete to its region, the other region and another device", async () => {
    const [a, b] = [await openDevice(41), await openDevice(42)];
    replicas.push(a.replica, b.replica);
    const syncA = await connectNode(a.replica, { regions: [cluster.urls.east!], token: cluster.token, docs: { prefix: "del/" } });
    const syncB = await connectNode(b.replica, { regions: [cluster.urls.west!], token: cluster.token, docs: { prefix: "del/" } });
    clients.push(syncA, syncB);
    await Promise.all([syncA.synced(), syncB.synced()]);
    await a.replica.create("del/y", "yjs");
    await a.replica.patch("del/y", [{ op: "set", path: ["m", "k"], value: 1 }]);
    await a.replica.create("del/am", "automerge", { init: { n: 1 } });
    await valueUntil(b.replica, "del/y", (v) => (v as { m?: { k?: number } }).m?.k === 1);
    await valueUntil(b.replica, "del/am", (v) => (v as { n?: number }).n === 1);

    expect(await a.replica.delete("del/y")).toBe(true);
    expect(await a.replica.delete("del/am")).toBe(true);
    await goneOnRegions("del/y");
    await goneOnRegions("del/am");
    await deletedOn(b.replica, "del/y");
    await deletedOn(b.replica, "del/am");
    await poll0("A's deletes acknowledged", () => syncA.status.pendingWrites === 0);
  }, 300_000);

  it("queues a delete made offline in the outbox, through a reload, and sends it on reconnect", async () => {
    const device = await openDevice(43);
    const regions = [cluster.urls.west!];
    let sync = await connectNode(device.replica, { regions, token: cluster.token, docs: { prefix: "offdel/" } });
    await sync.synced();
    await device.replica.create("offdel/doc", "yjs");
    await device.replica.patch("offdel/doc", [{ op: "set", path: ["m", "k"], value: "v" }]);
    await regionValueUntil(cluster.urls.east!, cluster.token, "offdel/doc", () => true);
    await poll0("the create acknowledged", () => sync.status.pendingWrites === 0);

    await cluster.kill("west");
    await nextEvent(sync, "offline");
    expect(await device.replica.delete("offdel/doc")).toBe(true);
    // Made and deleted while away: the region never hears of it, and it is not left pending either.
    await device.replica.create("offdel/never", "yjs");
    await device.replica.delete("offdel/never");
    expect(sync.status.pendingWrites).toBe(3);
    await sync.close();
    const replica = await device.reload();
    expect(await regionStatus("east", "offdel/doc")).toBe(200); // nothing left the device yet

    sync = await connectNode(replica, { regions, token: cluster.token, docs: { prefix: "offdel/" } });
    clients.push(sync);
    replicas.push(replica);
    expect(sync.status.pendingWrites).toBe(3); // the outbox came back with the replica
    await cluster.serve("west");
    await sync.synced();
    await goneOnRegions("offdel/doc");
    await poll0("the offline deletes settled", () => sync.status.pendingWrites === 0);
    expect(await regionStatus("west", "offdel/never")).toBe(404);
  }, 300_000);

  it("brings a region's delete to a live device and to one that was away, for prefix and id sets", async () => {
    const [live, away, awayPrefix] = [await openDevice(44), await openDevice(45), await openDevice(46)];
    replicas.push(live.replica, away.replica, awayPrefix.replica);
    for (const id of ["rdel/one", "rdel/two"]) {
      const r = await fetch(`${cluster.urls.east}/v1/docs/${encodeURIComponent(id)}`, {
        method: "PUT", headers: { authorization: `Bearer ${cluster.token}`, "content-type": "application/json" }, body: JSON.stringify({ kind: "yjs" }),
      });
      expect(r.status, await r.text()).toBeLessThan(300);
    }
    const syncLive = await connectNode(live.replica, { regions: [cluster.urls.west!], token: cluster.token, docs: { prefix: "rdel/" } });
    const syncAway = await connectNode(away.replica, { regions: [cluster.urls.east!], token: cluster.token, docs: ["rdel/one", "rdel/two"] });
    const syncAwayPrefix = await connectNode(awayPrefix.replica, { regions: [cluster.urls.west!], token: cluster.token, docs: { prefix: "rdel/" } });
    clients.push(syncLive);
    await poll0("every device holds both documents", async () => {
      const states = await Promise.all([live.replica, away.replica, awayPrefix.replica].flatMap((r) => ["rdel/one", "rdel/two"].map((id) => r.status(id))));
      return states.every((s) => s.state === "present");
    });
    await syncAway.close();
    await syncAwayPrefix.close();

    await regionDelete("east", "rdel/one"); // live device is on west: it hears of it through gossip, then its socket
    await deletedOn(live.replica, "rdel/one");
    await regionDelete("west", "rdel/two");
    await deletedOn(live.replica, "rdel/two");

    expect((await away.replica.status("rdel/one")).state).toBe("present");
    await goneOnRegions("rdel/two");
    const back = await connectNode(away.replica, { regions: [cluster.urls.east!], token: cluster.token, docs: ["rdel/one", "rdel/two"] });
    clients.push(back);
    await back.synced();
    await deletedOn(away.replica, "rdel/one");
    await deletedOn(away.replica, "rdel/two");
    // A prefix set learns of deletions from the region's tombstones under the prefix.
    const backPrefix = await connectNode(awayPrefix.replica, { regions: [cluster.urls.west!], token: cluster.token, docs: { prefix: "rdel/" } });
    clients.push(backPrefix);
    await backPrefix.synced();
    await deletedOn(awayPrefix.replica, "rdel/one");
    await deletedOn(awayPrefix.replica, "rdel/two");
  }, 300_000);
});
