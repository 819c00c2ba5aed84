/**
 * Regions that create the same new document and its containers at the same
 * moment (partitioned from each other, so neither has heard of the other's)
 * keep every acknowledged write once they heal: the review's lost-write
 * cases, end to end through Replica.patch and gossip.
 */
import { describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.ts";
import type { JsonOp } from "../../src/doc/json-ops.ts";
import type { DocKind } from "../../src/doc/engine.ts";
import { contents, createCluster, type Cluster } from "../helpers/cluster.ts";

const names = ["us-east", "eu-west", "ap-southeast"];

async function createEverywhere(cluster: Cluster, id: string, kind: DocKind, init?: Record<string, unknown>): Promise<void> {
  for (const name of names) {
    await cluster.get(name).replica.create(id, kind, init ? { init } : {}).catch((error: unknown) => {
      if (!isConcordError(error, "exists")) throw error;
    });
  }
}

/** Every region writes `op(region)` while cut off from the others; then the network heals. */
async function writeApartThenHeal(cluster: Cluster, id: string, op: (region: string) => JsonOp[]): Promise<Record<string, any>> {
  for (const name of names) cluster.network.isolate(name);
  for (const name of names) await cluster.get(name).replica.patch(id, op(name));
  cluster.network.heal();
  await cluster.settle(10_000);
  const all = [...(await contents(cluster)).values()];
  for (const other of all) expect(other).toBe(all[0]);
  return (await cluster.get("us-east").replica.read(id)).value as Record<string, any>;
}

describe("concurrent creation of containers across regions", () => {
  it.each(["automerge", "yjs"] as const)("keeps every region's first push into a new %s list", async (kind) => {
    const cluster = await createCluster({ names });
    for (const name of names) cluster.network.isolate(name);
    await createEverywhere(cluster, "d", kind);
    const value = await writeApartThenHeal(cluster, "d", (region) => [{ op: "push", path: ["items"], value: region }]);
    expect([...value.items].sort()).toEqual([...names].sort());
    await cluster.stop();
  });

  it.each(["automerge", "yjs"] as const)("keeps every region's nested set and adds up every first increment (%s)", async (kind) => {
    const cluster = await createCluster({ names });
    for (const name of names) cluster.network.isolate(name);
    await createEverywhere(cluster, "d", kind);
    const value = await writeApartThenHeal(cluster, "d", (region) => [
      { op: "set", path: ["meta", "sub", region], value: 1 },
      { op: "increment", path: ["stats", "views"], by: 2 },
    ]);
    expect(Object.keys(value.meta.sub).sort()).toEqual([...names].sort());
    expect(value.stats.views).toBe(2 * names.length);
    await cluster.stop();
  });

  it.each(["automerge", "yjs"] as const)("merges a %s document created with one initial shape in every region at once", async (kind) => {
    const cluster = await createCluster({ names });
    for (const name of names) cluster.network.isolate(name);
    await createEverywhere(cluster, "d", kind, { items: [], meta: { title: "Untitled" } });
    const value = await writeApartThenHeal(cluster, "d", (region) => [{ op: "push", path: ["items"], value: region }]);
    expect([...value.items].sort()).toEqual([...names].sort());
    expect(value.meta).toEqual({ title: "Untitled" });
    await cluster.stop();
  });
});
