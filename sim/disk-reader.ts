/**
 * Reads what a region's disk holds durably, without touching that disk: a
 * throwaway replica over a copy of its bytes at rest. Opening a replica writes
 * (a new epoch record, say), so it must never open the real disk of a region
 * that will start again; and a running region's in-memory state may hold
 * writes not yet durable, which a crash takes back: only the bytes at rest
 * count as a copy of a write for the rot nemesis.
 */
import { openInternalReplica } from "../src/internal.ts";
import type { Replica } from "../src/replica/replica.ts";
import { isConcordError } from "../src/errors.ts";
import type { Clock } from "../src/runtime/clock.ts";
import { createSeededRandom } from "../src/runtime/random.ts";
import { createMemoryDisk, type MemoryDisk } from "../src/storage/memory-store.ts";

export interface DiskReaderDeps {
  disk: MemoryDisk;
  masterKey: Uint8Array;
  region: string;
  /** The region's clock (alive): the replica's timers and the copy's writes run on virtual time. */
  clock: Clock;
  deviceClock: Clock;
  /** Seeds the throwaway replica's randomness, kept apart from every stream of the run. */
  seed: number;
  /** Calls `resolve` after one virtual millisecond: bounds a read that would wait for a write. */
  afterOneMs(resolve: () => void): void;
}

export interface DiskReader {
  /** The version of each of `docs` the disk holds; a missing or unreadable document is left out. */
  versions(docs: readonly string[]): Promise<Map<string, string>>;
  /** Whether the disk holds every write of `version` of `doc`. */
  holds(doc: string, version: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function openDiskReader(deps: DiskReaderDeps): Promise<DiskReader> {
  const copy = createMemoryDisk({ clock: deps.deviceClock, writeLatencyMs: 0 });
  const store = copy.open();
  await store.write(deps.disk.entries().map(([key, value]) => ({ key, value })));
  const replica: Replica = await openInternalReplica({
    store, masterKey: deps.masterKey, region: deps.region, clock: deps.clock, random: createSeededRandom(deps.seed ^ 0x5eed),
  });
  return {
    async versions(docs) {
      const held = new Map<string, string>();
      for (const id of docs) {
        try {
          held.set(id, (await replica.read(id)).version);
        } catch {
          // not there, or unreadable (damaged): nothing held
        }
      }
      return held;
    },
    async holds(doc, version) {
      const read = replica.head(doc, { after: version, timeoutMs: 0 }).then(() => true, (error: unknown) => {
        if (isConcordError(error)) return false;
        throw error;
      });
      return Promise.race([read, new Promise<boolean>((resolve) => deps.afterOneMs(() => resolve(false)))]);
    },
    close: () => replica.close(),
  };
}
