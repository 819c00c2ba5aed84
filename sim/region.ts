/**
 * One simulated region: a memory disk that survives crashes, and the process
 * on top of it — the real Replica and the real gossip, wired exactly as a
 * server wires them, with the simulator's Clock, Random, Transport and Store.
 * `crash()` is a power cut (memory gone, only durable batches kept, an
 * in-order prefix of in-flight batches may land: a torn tail); `start()` boots
 * a fresh process from the disk.
 */
import { createGossip, type Gossip, type GossipOptions } from "../src/gossip/gossip.ts";
import type { RegionKeyPair } from "../src/gossip/region-keys.ts";
import { openInternalReplica, type InjectedBugs, type Replica } from "../src/internal.ts";
import { createSeededRandom } from "../src/runtime/random.ts";
import { createMemoryDisk, type MemoryDisk } from "../src/storage/memory-store.ts";
import type { SimNetwork } from "./network.ts";
import type { Life, Scheduler } from "./scheduler.ts";
import { deriveSeed } from "./trace.ts";

export interface RegionDeps {
  name: string;
  seed: number;
  scheduler: Scheduler;
  network: SimNetwork;
  masterKey: Uint8Array;
  keyPair: RegionKeyPair;
  peers: ReadonlyMap<string, Uint8Array>;
  gossip: GossipOptions;
  bugs: InjectedBugs;
  writeLatencyMs: number;
}

export interface SimRegion {
  readonly name: string;
  readonly disk: MemoryDisk;
  /** Its master key: the rot nemesis finds a document's records with it (sim/rot.ts). */
  readonly masterKey: Uint8Array;
  /** The live process, or undefined while crashed. */
  readonly process: { replica: Replica; gossip: Gossip; life: Life } | undefined;
  readonly incarnation: number;
  /** True while a process is starting (opening its store, building its digest tree). */
  readonly booting: boolean;
  /** Boots a process from the disk; a no-op while one is running or booting. */
  start(): Promise<void>;
  /** Power cut; `landed` of the in-flight batches (oldest first) reach the disk. */
  crash(landed: number): void;
}

export function createSimRegion(deps: RegionDeps): SimRegion {
  const disk = createMemoryDisk({ clock: deps.scheduler.deviceClock, writeLatencyMs: deps.writeLatencyMs });
  let current: SimRegion["process"];
  let incarnation = 0;
  let booting: Life | undefined;
  return {
    name: deps.name,
    disk,
    masterKey: deps.masterKey,
    get process() {
      return current;
    },
    get incarnation() {
      return incarnation;
    },
    get booting() {
      return booting !== undefined;
    },
    async start() {
      // One process at a time: a second start while one runs or boots is a no-op.
      if (current || booting) return;
      incarnation++;
      const life: Life = { alive: true };
      booting = life;
      const clock = deps.scheduler.clock(deps.name, life);
      const random = createSeededRandom(deriveSeed(deps.seed, `${deps.name}#${incarnation}`));
      try {
        const replica = await openInternalReplica({
          store: disk.open(), masterKey: deps.masterKey, region: deps.name, clock, random, bugs: deps.bugs,
          compactMinLogBytes: 4096, compactMaxLogRecords: 64,
        });
        const gossip = createGossip(
          { replica, transport: deps.network.attach(deps.name, life), clock, random, self: deps.name, keyPair: deps.keyPair, peers: deps.peers },
          { ...deps.gossip, bugs: { dropFailedPushes: deps.bugs.dropFailedPushes ?? false, skipAntiEntropy: deps.bugs.skipAntiEntropy ?? false } },
        );
        await gossip.start();
        if (!life.alive) {
          gossip.stop(); // crashed while booting
          return;
        }
        current = { replica, gossip, life };
      } catch (error) {
        // A crash mid-boot kills the store handle under the opening replica ("closed"): that process is gone.
        if (life.alive) throw error;
      } finally {
        if (booting === life) booting = undefined;
      }
    },
    crash(landed) {
      if (!current && !booting) return;
      if (booting) booting.alive = false;
      booting = undefined;
      if (current) {
        current.life.alive = false;
        current.gossip.stop();
        current = undefined;
      }
      disk.crash({ applyInFlight: (i) => i < landed });
    },
  };
}
