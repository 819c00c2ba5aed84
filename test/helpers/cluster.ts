/**
 * A cluster of replicas in one process for replication tests: memory disks
 * (so a region can crash and restart), a seeded in-memory network, a manual
 * clock, and `settle(ms)` to run timers and let the network drain.
 */
import { loadSodium } from "../../src/crypto/sodium.ts";
import { createGossip, type Gossip, type GossipOptions } from "../../src/gossip/gossip.ts";
import { createMemoryNetwork, type MemoryNetwork } from "../../src/gossip/memory-network.ts";
import { generateRegionKeyPair, type RegionKeyPair } from "../../src/gossip/region-keys.ts";
import { openReplica, type Replica } from "../../src/replica/replica.ts";
import type { ReplicaOptions } from "../../src/replica/types.ts";
import { createManualClock, type ManualClock } from "../../src/runtime/clock.ts";
import { createSeededRandom, type Random } from "../../src/runtime/random.ts";
import { createMemoryDisk, type MemoryDisk } from "../../src/storage/memory-store.ts";
import { testKey } from "./replicas.ts";

export interface Region {
  name: string;
  replica: Replica;
  gossip: Gossip;
  disk: MemoryDisk;
  keyPair: RegionKeyPair;
}

export interface Cluster {
  regions: Map<string, Region>;
  network: MemoryNetwork;
  clock: ManualClock;
  random: Random;
  get(name: string): Region;
  /** Advances virtual time in steps, letting every promise settle between steps. */
  settle(ms: number, stepMs?: number): Promise<void>;
  /** Crashes a region (unflushed writes lost) and starts it again from its disk. */
  restart(name: string): Promise<Region>;
  stop(): Promise<void>;
}

export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function createCluster(options: {
  names?: string[];
  seed?: number;
  loss?: number;
  capture?: boolean;
  gossip?: GossipOptions;
  /** Per-region gossip options on top of `gossip` (a region on an older protocol, say). */
  gossipFor?: (name: string) => GossipOptions;
  replica?: Partial<ReplicaOptions>;
} = {}): Promise<Cluster> {
  await loadSodium();
  const names = options.names ?? ["us-east", "eu-west", "ap-southeast"];
  const random = createSeededRandom(options.seed ?? 1);
  const clock = createManualClock(1_700_000_000_000);
  const network = createMemoryNetwork({ random, loss: options.loss ?? 0, capture: options.capture ?? false });
  const keyPairs = new Map(names.map((n) => [n, generateRegionKeyPair(random)]));
  const regions = new Map<string, Region>();

  const start = async (name: string, disk: MemoryDisk): Promise<Region> => {
    const replica = await openReplica({
      store: disk.open(), masterKey: testKey(names.indexOf(name) + 1), region: name, clock, random, ...options.replica,
    });
    const peers = new Map(names.filter((n) => n !== name).map((n) => [n, keyPairs.get(n)!.publicKey]));
    const gossip = createGossip(
      { replica, transport: network.transport(name), clock, random, self: name, keyPair: keyPairs.get(name)!, peers },
      { antiEntropyIntervalMs: 500, heartbeatMs: 200, downAfterMs: 600, retryBaseMs: 20, retryMaxMs: 400, ...options.gossip, ...options.gossipFor?.(name) },
    );
    await gossip.start();
    const region = { name, replica, gossip, disk, keyPair: keyPairs.get(name)! };
    regions.set(name, region);
    return region;
  };
  for (const name of names) await start(name, createMemoryDisk());

  const cluster: Cluster = {
    regions, network, clock, random,
    get: (name) => regions.get(name)!,
    async settle(ms, stepMs = 25) {
      for (let t = 0; t < ms; t += stepMs) {
        await flush();
        clock.advance(stepMs);
        await flush();
      }
    },
    async restart(name) {
      const old = cluster.get(name);
      old.gossip.stop();
      old.disk.crash();
      return start(name, old.disk);
    },
    async stop() {
      for (const region of regions.values()) {
        region.gossip.stop();
        await region.replica.close().catch(() => undefined);
      }
    },
  };
  return cluster;
}

/** Canonical JSON of every document on every region, keyed by region. */
export async function contents(cluster: Cluster): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [name, region] of cluster.regions) {
    const docs: Record<string, unknown> = {};
    for await (const id of region.replica.list()) {
      const view = await region.replica.read(id);
      docs[id] = { kind: view.kind, version: view.version, value: view.value };
    }
    out.set(name, JSON.stringify(docs));
  }
  return out;
}
