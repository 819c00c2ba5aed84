import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { ConcordError } from "../../src/errors.ts";
import { createRemoteApplier } from "../../src/gossip/remote-applier.ts";
import type { Replica } from "../../src/replica/replica.ts";

/** A replica that holds every delta back as "missing dependencies" until its document is marked ready. */
function fakeReplica(ready: Set<string>): Replica {
  return {
    async applyRemoteStaged(id: string) {
      if (!ready.has(id)) throw new ConcordError("invalid_update", "waits", { details: { reason: "missing_dependencies" } });
      return { applied: true, durable: Promise.resolve() };
    },
  } as unknown as Replica;
}

/** A full garbage collection, without starting node with --expose-gc. */
function collectGarbage(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

describe("remote applier", () => {
  it("keeps nothing of a delta that waited for its dependencies once it is applied", async () => {
    const ready = new Set<string>();
    const applier = createRemoteApplier(fakeReplica(ready), 1 << 30);
    // Park a delta, let it apply; only a weak reference to it leaves this function.
    const cycle = async (id: string): Promise<WeakRef<Uint8Array>> => {
      const delta = new Uint8Array(1024);
      expect(await applier.apply({ id, kind: "yjs", delta })).toBe("buffered");
      ready.add(id);
      await applier.retry(id);
      return new WeakRef(delta);
    };
    const refs: Array<WeakRef<Uint8Array>> = [];
    for (let i = 0; i < 20; i++) refs.push(await cycle(`doc-${i}`));
    expect(applier.stats).toMatchObject({ pendingDeltas: 0, pendingBytes: 0 });
    // WeakRef targets stay alive until the current job ends: let it end, then collect.
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage()();
    expect(refs.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
  });

  it("drops the oldest waiting deltas, and only those, when over its byte bound", async () => {
    const applier = createRemoteApplier(fakeReplica(new Set()), 3000);
    for (let i = 0; i < 5; i++) await applier.apply({ id: `doc-${i % 2}`, kind: "yjs", delta: new Uint8Array(1000) });
    expect(applier.stats).toMatchObject({ pendingDeltas: 3, pendingBytes: 3000, droppedPending: 2 });
  });
});
