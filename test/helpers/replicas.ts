/** Shared test helpers: replicas on memory or LMDB stores, and Yjs deltas made by hand. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as Y from "yjs";
import { openReplica, type Replica } from "../../src/replica/replica.ts";
import type { ReplicaOptions } from "../../src/replica/types.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { createManualClock } from "../../src/runtime/clock.ts";
import { createMemoryStore } from "../../src/storage/memory-store.ts";
import type { Store } from "../../src/storage/store.ts";

/** The same store, but close() leaves it open: for reopening a replica over the same bytes. */
export function unclosable(store: Store): Store {
  return { get: (k) => store.get(k), write: (b, o) => store.write(b, o), scan: (p) => store.scan(p), snapshot: () => store.snapshot(), close: async () => {} };
}

export const testKey = (seed = 1) => createSeededRandom(seed * 7919).bytes(32);

export async function memoryReplica(options: Partial<ReplicaOptions> = {}): Promise<Replica> {
  return openReplica({
    store: createMemoryStore(),
    masterKey: testKey(),
    clock: createManualClock(1_700_000_000_000),
    random: createSeededRandom(42),
    ...options,
  });
}

export async function tempDir(prefix = "concord-test-"): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A Yjs client outside any replica, producing real updates. */
export function yjsClient(clientID: number) {
  const doc = new Y.Doc();
  doc.clientID = clientID;
  const updates: Uint8Array[] = [];
  doc.on("update", (update: Uint8Array) => updates.push(update));
  return {
    doc,
    /** Inserts text and returns the update it produced. */
    insert(text: string, at?: number, name = "text"): Uint8Array {
      const t = doc.getText(name);
      t.insert(at ?? t.length, text);
      return updates.at(-1)!;
    },
    set(key: string, value: unknown, name = "map"): Uint8Array {
      doc.getMap(name).set(key, value);
      return updates.at(-1)!;
    },
    updates,
  };
}
