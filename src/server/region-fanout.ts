/**
 * Cross-process visibility in a region of several processes over one store:
 * this process's durable changes go out as change notices (keyed hashes, see
 * src/storage/postgres-notify.ts), and notices from the region's other
 * processes come in here. For each noticed document this process reads its
 * version record (V: the id and version hash, sealed by the region key) from
 * the shared store, sets its digest tree entry (so anti-entropy answers from
 * any process agree), and refreshes its cached copy (Replica.refreshFromStore:
 * subscribers and sockets on this process get the change; no region gets it
 * twice).
 *
 * After the notice channel was lost and came back, notices may have been
 * missed: every version record is read again and each that differs from the
 * digest tree is handled as a notice.
 */
import { elementHash } from "../gossip/digest-tree.ts";
import type { Gossip } from "../gossip/gossip.ts";
import type { Replica } from "../replica/replica.ts";
import type { ReplicaEvent } from "../replica/types.ts";
import { fromHex, toHex } from "../storage/bytes.ts";
import { docHashBytes, layout } from "../storage/doc-store-layout.ts";
import type { Store } from "../storage/store.ts";
import { openVersion } from "../storage/version-records.ts";
import { bytesEqual } from "../storage/bytes.ts";

export interface ChangeNotices {
  publish(docHashes: readonly Uint8Array[]): Promise<void>;
}

export interface RegionFanoutDeps {
  replica: Replica;
  gossip: Pick<Gossip, "tree">;
  store: Store;
  /** The keyring's: a document id's keyed hash, and the key version records are sealed with. */
  docHash: (id: string) => Uint8Array;
  regionKey: Uint8Array;
  notices: ChangeNotices;
  /** Hears of a notice that could not be handled or published (logged; anti-entropy and the next write repair). */
  onError?: (error: unknown) => void;
}

export interface RegionFanout {
  /** Handles notices of these hex hashes from another process. */
  noticed(docHashes: readonly string[]): Promise<void>;
  /** The notice channel came back after a loss: re-reads every version record (see the file header). */
  resync(): Promise<number>;
  /** Stops publishing. */
  stop(): void;
  /** Notices handled and documents refreshed (for the status route and tests). */
  readonly counts: { published: number; noticed: number; refreshed: number };
}

/** Hash → id of documents this process wrote or heard of lately: a notice of one refreshes without waiting for its record. */
const maxKnownIds = 10_000;

export function createRegionFanout(deps: RegionFanoutDeps): RegionFanout {
  const { replica, gossip, store } = deps;
  const counts = { published: 0, noticed: 0, refreshed: 0 };
  const known = new Map<string, string>();
  const remember = (hex: string, id: string) => {
    known.delete(hex);
    known.set(hex, id);
    if (known.size > maxKnownIds) known.delete(known.keys().next().value!);
  };
  /** Ids whose refresh is announcing a change right now: that change came from the store, not from here. */
  const refreshing = new Set<string>();
  let pending = new Map<string, Uint8Array>();
  let flushing = false;

  // One publish per turn of the event loop: a group commit announces many documents at once.
  const flush = () => {
    flushing = false;
    const hashes = [...pending.values()];
    pending = new Map();
    counts.published += hashes.length;
    deps.notices.publish(hashes).catch((error: unknown) => deps.onError?.(error));
  };
  const onEvent = (event: ReplicaEvent) => {
    if (refreshing.has(event.id)) return;
    const hash = deps.docHash(event.id);
    pending.set(event.id, hash);
    remember(toHex(hash), event.id);
    if (!flushing) {
      flushing = true;
      setImmediate(flush);
    }
  };
  const unobserve = replica.observe(onEvent);

  /** Ids noticed again while their refresh runs: it runs once more when done. */
  const again = new Set<string>();
  /**
   * One refresh per document at a time, run again for a notice heard meanwhile: that notice's write may have
   * committed after the running reload read the store, and the reload has retired the cached copy, so a
   * refresh of its own would find nothing cached and leave the document stale until its next write.
   */
  const refresh = async (id: string) => {
    if (refreshing.has(id)) {
      again.add(id);
      return;
    }
    refreshing.add(id);
    try {
      do {
        again.delete(id);
        if (await replica.refreshFromStore(id)) counts.refreshed++;
      } while (again.has(id));
    } finally {
      refreshing.delete(id);
      again.delete(id);
    }
  };

  /** The document a version record names, updated in the tree and refreshed; false if nothing changed here. */
  const apply = async (hash: Uint8Array, sealed: Uint8Array): Promise<boolean> => {
    const { id, versionHash } = openVersion(deps.regionKey, hash, sealed);
    remember(toHex(hash), id);
    if (versionHash) {
      const inTree = gossip.tree.get(id); // the element hash, of id and version
      if (inTree && bytesEqual(inTree, elementHash(id, versionHash))) return false;
    }
    await refresh(id);
    // After the refresh, whose announcement set the tree from the document itself when it was cached.
    if (versionHash) gossip.tree.set(id, versionHash);
    return true;
  };

  /** A notice of a document whose id is known here: refreshed at once, its record read meanwhile for the tree. */
  const applyKnown = async (hash: Uint8Array, id: string): Promise<void> => {
    const [sealed] = await Promise.all([store.get(layout.version(hash)), refresh(id)]);
    if (!sealed) return;
    const { versionHash } = openVersion(deps.regionKey, hash, sealed);
    if (versionHash) gossip.tree.set(id, versionHash);
  };

  return {
    counts,
    async noticed(hexes) {
      for (const hex of hexes) {
        counts.noticed++;
        try {
          const hash = fromHex(hex);
          if (hash.length !== docHashBytes) continue;
          const id = known.get(hex);
          if (id !== undefined) {
            await applyKnown(hash, id);
            continue;
          }
          const sealed = await store.get(layout.version(hash));
          if (sealed) await apply(hash, sealed);
        } catch (error) {
          deps.onError?.(error);
        }
      }
    },
    async resync() {
      let changed = 0;
      const prefix = layout.versionPrefix();
      for await (const [key, sealed] of store.scan(prefix)) {
        try {
          if (await apply(key.subarray(prefix.length), sealed)) changed++;
        } catch (error) {
          deps.onError?.(error);
        }
      }
      return changed;
    },
    stop() {
      unobserve();
      if (flushing) flush();
    },
  };
}
