import { describe, expect, it } from "vitest";
import { createCluster } from "../helpers/cluster.ts";

describe("document creation", () => {
  it("replicates a created document before its first write, for both kinds", async () => {
    const cluster = await createCluster();
    const east = cluster.get("us-east").replica;
    await east.create("empty-y", "yjs");
    await east.create("empty-a", "automerge");
    await cluster.settle(100);
    for (const name of ["eu-west", "ap-southeast"]) {
      const replica = cluster.get(name).replica;
      expect(await replica.status("empty-y")).toMatchObject({ state: "present", kind: "yjs" });
      expect(await replica.status("empty-a")).toMatchObject({ state: "present", kind: "automerge" });
    }
    await cluster.stop();
  });

  it("repairs a missed creation through anti-entropy", async () => {
    const cluster = await createCluster();
    cluster.network.isolate("eu-west");
    await cluster.get("us-east").replica.create("late", "automerge");
    await cluster.settle(200);
    cluster.network.heal();
    await cluster.settle(3000);
    expect(await cluster.get("eu-west").replica.status("late")).toMatchObject({ state: "present" });
    await cluster.stop();
  });
});
