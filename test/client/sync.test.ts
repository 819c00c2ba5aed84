/**
 * The sync client against real `concord serve` processes (two regions,
 * tokens on): offline edits survive a reload and converge on reconnect, two
 * clients homed on two regions converge on both kinds, killing home fails the
 * client over with read-your-writes intact and it returns home, and revoking
 * its token closes its socket.
 */
import { isDeepStrictEqual } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SyncClient } from "../../src/client/index.ts";
import type { Replica } from "../../src/replica/replica.ts";
import { poll } from "../server/processes.ts";
import { startTokenCluster, type TokenCluster } from "./token-cluster.ts";
import { connectNode, nextEvent, openDevice, regionValueUntil, valueUntil } from "./sync-helpers.ts";

const has = (path: string[], expected: unknown) => (value: unknown) => {
  let at: unknown = value;
  for (const key of path) at = (at as Record<string, unknown> | undefined)?.[key];
  return isDeepStrictEqual(at, expected);
};

describe("sync client against real regions", () => {
  let cluster: TokenCluster;
  const clients: SyncClient[] = [];
  const replicas: Replica[] = [];
  beforeAll(async () => {
    cluster = await startTokenCluster(["east", "west"], "concord-sync-");
    await Promise.all([cluster.serve("east"), cluster.serve("west")]);
  }, 300_000);
  afterAll(async () => {
    for (const c of clients) await c.close();
    for (const r of replicas) await r.close().catch(() => undefined);
    await cluster?.stop();
  });

  it("converges two clients homed on two regions, on both kinds, both ways", async () => {
    const [a, b] = [await openDevice(1), await openDevice(2)];
    replicas.push(a.replica, b.replica);
    const syncA = await connectNode(a.replica, { regions: [cluster.urls.east!, cluster.urls.west!], token: cluster.token, docs: { prefix: "pair/" } });
    const syncB = await connectNode(b.replica, { regions: [cluster.urls.west!, cluster.urls.east!], token: cluster.token, docs: { prefix: "pair/" } });
    clients.push(syncA, syncB);
    await Promise.all([syncA.synced(), syncB.synced()]);
    expect(syncA.status.home && syncB.status.home).toBe(true);

    await a.replica.create("pair/y", "yjs");
    await a.replica.patch("pair/y", [{ op: "set", path: ["m", "a"], value: 1 }]);
    await b.replica.create("pair/am", "automerge");
    await b.replica.patch("pair/am", [{ op: "set", path: ["b"], value: 2 }]);
    await valueUntil(b.replica, "pair/y", has(["m", "a"], 1));
    await valueUntil(a.replica, "pair/am", has(["b"], 2));
    // Concurrent edits of both documents from both sides.
    await Promise.all([
      a.replica.patch("pair/y", [{ op: "set", path: ["m", "fromA"], value: "a" }]),
      b.replica.patch("pair/y", [{ op: "set", path: ["m", "fromB"], value: "b" }]),
      a.replica.patch("pair/am", [{ op: "push", path: ["list"], value: "a" }]),
      b.replica.patch("pair/am", [{ op: "push", path: ["list"], value: "b" }]),
    ]);
    for (const r of [a.replica, b.replica]) {
      await valueUntil(r, "pair/y", (v) => has(["m", "fromA"], "a")(v) && has(["m", "fromB"], "b")(v));
      await valueUntil(r, "pair/am", (v) => ((v as { list?: unknown[] }).list ?? []).length === 2);
    }
    const [ya, yb, ama, amb] = await Promise.all([a.replica.read("pair/y"), b.replica.read("pair/y"), a.replica.read("pair/am"), b.replica.read("pair/am")]);
    expect(ya.value).toEqual(yb.value);
    expect(ama.value).toEqual(amb.value);
    // The regions hold the same, through the write path and gossip.
    for (const url of [cluster.urls.east!, cluster.urls.west!]) {
      await regionValueUntil(url, cluster.token, "pair/am", (v) => isDeepStrictEqual(v, ama.value));
      await regionValueUntil(url, cluster.token, "pair/y", (v) => isDeepStrictEqual(v, ya.value));
    }
    expect(syncA.status.pendingWrites).toBe(0);
  }, 300_000);

  it("keeps offline edits through a reload and sends them on reconnect", async () => {
    const device = await openDevice(3);
    const regions = [cluster.urls.west!];
    let sync = await connectNode(device.replica, { regions, token: cluster.token, docs: ["offline/doc"] });
    await sync.synced();
    await device.replica.create("offline/doc", "yjs");
    await regionValueUntil(cluster.urls.west!, cluster.token, "offline/doc", () => true);

    await cluster.kill("west");
    await nextEvent(sync, "offline");
    await device.replica.patch("offline/doc", [{ op: "set", path: ["m", "note"], value: "written offline" }]);
    expect(sync.status.pendingWrites).toBeGreaterThan(0);
    await sync.close();
    const replica = await device.reload(); // the page reloads while offline
    expect((await replica.read("offline/doc")).value).toEqual({ m: { note: "written offline" } });

    sync = await connectNode(replica, { regions, token: cluster.token, docs: ["offline/doc"] });
    clients.push(sync);
    replicas.push(replica);
    expect(sync.status.pendingWrites).toBeGreaterThan(0); // the outbox came back with the replica
    await cluster.serve("west");
    await sync.synced();
    await regionValueUntil(cluster.urls.west!, cluster.token, "offline/doc", has(["m", "note"], "written offline"));
    await regionValueUntil(cluster.urls.east!, cluster.token, "offline/doc", has(["m", "note"], "written offline"));
    await poll0(() => sync.status.pendingWrites === 0);
  }, 300_000);

  it("fails over when home dies, keeps read-your-writes, and returns home when it is back", async () => {
    const device = await openDevice(4);
    replicas.push(device.replica);
    const sync = await connectNode(device.replica, {
      regions: [cluster.urls.east!, cluster.urls.west!], token: cluster.token, docs: { prefix: "fo/" }, homeRetryMs: 200,
    });
    clients.push(sync);
    await sync.synced();
    await device.replica.create("fo/doc", "automerge");
    await device.replica.patch("fo/doc", [{ op: "set", path: ["before"], value: 1 }]);
    await poll0(() => sync.token("fo/doc") !== undefined && sync.status.pendingWrites === 0);
    expect(sync.status).toMatchObject({ state: "synced", home: true });

    const failedOver = nextEvent(sync, "failed-over");
    await cluster.kill("east");
    const event = await failedOver;
    expect(event).toEqual({ from: cluster.urls.east, to: cluster.urls.west });
    const acked = nextEvent(sync, "pending", (e) => e.pendingWrites === 0);
    await device.replica.patch("fo/doc", [{ op: "set", path: ["after"], value: 2 }]);
    await acked;
    const token = sync.token("fo/doc")!;
    // A read with the client's token, on the region it failed over to, sees its own writes.
    const read = await fetch(`${cluster.urls.west}/v1/docs/fo%2Fdoc?after=${token}`, { headers: { authorization: `Bearer ${cluster.token}` } });
    expect(read.status).toBe(200);
    expect(((await read.json()) as { value: unknown }).value).toEqual({ before: 1, after: 2 });

    const home = nextEvent(sync, "synced", (e) => e.home);
    await cluster.serve("east");
    await home;
    expect(sync.status).toMatchObject({ state: "synced", home: true, region: cluster.urls.east });
    await regionValueUntil(cluster.urls.east!, cluster.token, "fo/doc", has(["after"], 2));
  }, 300_000);

  it("closes the socket of a revoked token, and the client stops retrying", async () => {
    const added = cluster.tokens("west", ["add", "--name", "device-5", "--scopes", "read,write", "--prefix", "rev/"]);
    expect(added.status, added.stderr).toBe(0);
    const token = added.stdout.trim();
    const device = await openDevice(5);
    replicas.push(device.replica);
    // The region picks the token up without a restart; until then the client is denied and stops, so retry the connect.
    let sync: SyncClient | undefined;
    for (;;) {
      sync = await connectNode(device.replica, { regions: [cluster.urls.west!], token, docs: { prefix: "rev/" } });
      const outcome = await Promise.race([sync.synced().then(() => "synced"), nextEvent(sync, "denied").then(() => "denied")]);
      if (outcome === "synced") break;
      await sync.close();
    }
    clients.push(sync);
    const denied = nextEvent(sync, "denied");
    expect(cluster.tokens("west", ["revoke", "--name", "device-5"]).status).toBe(0);
    expect((await denied).code).toBe(4401);
    expect(sync.status.state).toBe("denied");
  }, 300_000);
});

const poll0 = (check: () => boolean) => poll("the condition", async () => (check() ? true : undefined));
