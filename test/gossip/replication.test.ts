import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { contents, createCluster, type Cluster } from "../helpers/cluster.ts";

/** Each region writes to shared documents of both kinds, concurrently. */
async function writeEverywhere(cluster: Cluster, round: number): Promise<void> {
  const writes: Promise<unknown>[] = [];
  for (const [name, { replica }] of cluster.regions) {
    writes.push(replica.change("shared-text", (d: Y.Doc) => d.getText("t").insert(0, `${name}:${round};`)));
    writes.push(replica.change("shared-map", (d: Y.Doc) => d.getMap("m").set(`${name}-${round}`, round)));
    writes.push(replica.change("shared-am", (d: { log?: string[]; [k: string]: unknown }) => {
      (d.log ??= []).push(`${name}:${round}`);
      d[name] = round;
    }));
  }
  await Promise.all(writes);
}

async function seed(cluster: Cluster): Promise<void> {
  const first = cluster.get("us-east").replica;
  await first.create("shared-text", "yjs");
  await first.create("shared-map", "yjs");
  await first.create("shared-am", "automerge");
  // One list, made once: lists created concurrently in several regions are a conflict Automerge resolves by picking one.
  await first.change("shared-am", (d: { log?: string[] }) => void (d.log = []));
  await cluster.settle(200);
}

async function expectConverged(cluster: Cluster): Promise<string> {
  const all = await contents(cluster);
  const values = [...all.values()];
  for (const v of values) expect(v).toBe(values[0]);
  return values[0]!;
}

describe("replication", () => {
  it("pushes a write to every region within one round trip while the network is healthy", async () => {
    const cluster = await createCluster();
    const east = cluster.get("us-east").replica;
    await east.create("doc", "yjs");
    await east.change("doc", (d: Y.Doc) => d.getText("t").insert(0, "hello"));
    await cluster.settle(25);
    for (const name of ["eu-west", "ap-southeast"]) {
      expect((await cluster.get(name).replica.read("doc")).value).toEqual({ t: "hello" });
    }
    await cluster.stop();
  });

  it("converges concurrent writes to the same documents of both kinds", async () => {
    const cluster = await createCluster();
    await seed(cluster);
    for (let round = 0; round < 5; round++) await writeEverywhere(cluster, round);
    await cluster.settle(1500);
    const state = JSON.parse(await expectConverged(cluster));
    expect(state["shared-am"].value.log).toHaveLength(15);
    expect(Object.keys(state["shared-map"].value.m)).toHaveLength(15);
    await cluster.stop();
  });

  it("converges under 30% message loss once anti-entropy runs", async () => {
    // Small queues: under loss they overflow and drop, so only anti-entropy can finish the job.
    const cluster = await createCluster({ loss: 0.3, seed: 7, gossip: { queueMaxBytes: 600 } });
    await seed(cluster);
    for (let round = 0; round < 8; round++) await writeEverywhere(cluster, round);
    cluster.network.setLoss(0);
    await cluster.settle(4000);
    const state = JSON.parse(await expectConverged(cluster));
    expect(state["shared-am"].value.log).toHaveLength(24);
    const dropped = [...cluster.regions.values()].map((r) => r.gossip.stats() as { peers: Record<string, { queueDropped: number }> })
      .flatMap((s) => Object.values(s.peers).map((p) => p.queueDropped));
    expect(dropped.some((d) => d > 0)).toBe(true);
    await cluster.stop();
  });

  it("catches up a region that was cut off for a while", async () => {
    const cluster = await createCluster();
    await seed(cluster);
    cluster.network.isolate("ap-southeast");
    for (let round = 0; round < 4; round++) await writeEverywhere(cluster, round);
    await cluster.settle(2000);
    expect(cluster.get("ap-southeast").gossip.stats()).toMatchObject({ peers: { "us-east": { up: false } } });
    cluster.network.heal();
    await cluster.settle(3000);
    await expectConverged(cluster);
    await cluster.stop();
  });

  it("catches up a region restarted from its store with its memory lost", async () => {
    const cluster = await createCluster();
    await seed(cluster);
    await writeEverywhere(cluster, 0);
    await cluster.settle(300);
    cluster.network.isolate("eu-west");
    await writeEverywhere(cluster, 1);
    await cluster.restart("eu-west");
    cluster.network.heal();
    await writeEverywhere(cluster, 2);
    await cluster.settle(3000);
    const state = JSON.parse(await expectConverged(cluster));
    expect(state["shared-am"].value.log).toHaveLength(9);
    await cluster.stop();
  });

  it("replicates a deletion, and anti-entropy never brings the document back", async () => {
    const cluster = await createCluster();
    await seed(cluster);
    cluster.network.isolate("ap-southeast");
    await cluster.get("us-east").replica.delete("shared-map");
    // The isolated region keeps writing to it meanwhile.
    await cluster.get("ap-southeast").replica.change("shared-map", (d: Y.Doc) => d.getMap("m").set("late", 1));
    cluster.network.heal();
    await cluster.settle(3000);
    for (const { replica } of cluster.regions.values()) {
      await expect(replica.read("shared-map")).rejects.toMatchObject({ code: "deleted" });
    }
    await expectConverged(cluster);
    await cluster.stop();
  });

  it("rebuilds its digest tree on restart from version records alone, equal to its peers'", async () => {
    const cluster = await createCluster();
    await seed(cluster);
    for (let round = 0; round < 3; round++) await writeEverywhere(cluster, round);
    await cluster.get("us-east").replica.delete("shared-map");
    await cluster.settle(1500);
    const restarted = await cluster.restart("eu-west");
    await restarted.gossip.treeReady(); // built in the background, after start()
    // Nothing was loaded to build the tree: every document is still on disk only.
    expect(restarted.replica.stats().cachedDocs).toBe(0);
    expect(restarted.gossip.tree.size).toBe(3);
    expect(restarted.gossip.tree.node("")).toEqual(cluster.get("us-east").gossip.tree.node(""));
    await cluster.stop();
  });
});
