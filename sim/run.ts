/**
 * One simulation run: N regions of real Replica + gossip code on virtual time,
 * a setup phase (documents created and replicated), a chaos phase (writes and
 * faults), the final heal (partitions healed, paused regions resumed, clocks
 * unskewed, crashed regions restarted, the network made clean), a quiet phase
 * until the replicas agree (or the liveness bound passes), then the checker.
 * Same seed and options ⇒ same trace hash.
 */
import { loadSodium } from "../src/crypto/sodium.ts";
import { isConcordError } from "../src/errors.ts";
import { generateRegionKeyPair } from "../src/gossip/region-keys.ts";
import { createSeededRandom } from "../src/runtime/random.ts";
import { checkAckedWrites, checkConvergence, checkDurability, checkMemory, holdsWrite, memoryFigures, preview, readContents, type Contents, type Violation } from "./checker.ts";
import type { Replica } from "../src/replica/replica.ts";
import { createBuggify, drawBuggify } from "./buggify.ts";
import { drawNemesis } from "./nemesis.ts";
import { createSimNetwork } from "./network.ts";
import { createNemesisExecutor, type TimelineEntry } from "./nemesis-executor.ts";
import { defaultOptions, injectedBugs, replayCommand, type SimOptions } from "./options.ts";
import { createSimRegion, type SimRegion } from "./region.ts";
import { createScheduler } from "./scheduler.ts";
import { readTopologyFile, simTopology } from "./topology-file.ts";
import { createTrace, deriveSeed } from "./trace.ts";
import { checkable, createLedger, docSpecs, issueWrite } from "./workload.ts";
import { drainMicrotasks } from "./drain.ts";
import { openDiskReader, type DiskReader } from "./disk-reader.ts";

/** Virtual time given to replicate the freshly created documents before the chaos starts. */
const setupMs = 2000;

export interface SimProgress {
  phase: "setup" | "chaos" | "quiesce" | "check";
  virtualMs: number;
  events: number;
  acked: number;
  divergent: number;
}

export interface SimResult {
  seed: number;
  converged: boolean;
  lostWrites: number;
  /** Virtual ms from the final heal to convergence; null if it never came within the bound. */
  convergenceMs: number | null;
  traceHash: string;
  events: number;
  messages: number;
  bytes: number;
  violations: Violation[];
  writes: { attempted: number; acked: number; failed: Record<string, number>; unanswered: number; skipped: number };
  network: { lost: number; duplicated: number; timeouts: number };
  crashes: number;
  peakQueueBytes: number;
  replay: string;
  regions: string[];
  timeline: {
    chaosStartMs: number;
    healAtMs: number;
    endMs: number;
    actions: TimelineEntry[];
    /**
     * Sampled [virtual ms, divergent documents, regions down]. A document is divergent when its versions
     * differ across regions; a region that is down (crashed, booting) serves none, so it differs on all.
     */
    divergence: Array<[number, number, number]>;
  };
  options: Omit<SimOptions, "topology" | "script">;
}

export async function runSimulation(partial: Partial<SimOptions>, onProgress?: (p: SimProgress) => void): Promise<SimResult> {
  await loadSodium();
  const o: SimOptions = { ...defaultOptions, ...partial };
  const topo = simTopology(o.topology ?? readTopologyFile(o.topologyPath), o.regions);
  const names = topo.regions;
  const random = (name: string) => createSeededRandom(deriveSeed(o.seed, name));
  const keysRandom = random("keys");
  const keyPairs = new Map(names.map((n) => [n, generateRegionKeyPair(keysRandom)]));
  const masterKeys = new Map(names.map((n) => [n, keysRandom.bytes(32)]));
  const scheduler = createScheduler();
  const trace = createTrace();
  const network = createSimNetwork({
    scheduler, random: random("network"), trace, regions: names, latencyMs: topo.latencyMs, timeoutMs: 1000,
    bandwidthBytesPerMs: o.bandwidthBytesPerMs > 0 ? o.bandwidthBytesPerMs : Number.POSITIVE_INFINITY, conditions: { loss: 0, duplicate: 0, jitterMs: 5, reorderMs: 0 },
  });
  const gossipOptions = {
    antiEntropyIntervalMs: 1000, heartbeatMs: 500, downAfterMs: 1500, retryBaseMs: 50, retryMaxMs: 1000,
    queueMaxBytes: o.queueMaxBytes, pendingMaxBytes: o.pendingMaxBytes, pushBatchMaxBytes: 8 * 1024,
  };
  const bugs = injectedBugs(o.bugs);
  const regions = new Map<string, SimRegion>(names.map((name) => [name, createSimRegion({
    name, seed: o.seed, scheduler, network, masterKey: masterKeys.get(name)!, keyPair: keyPairs.get(name)!,
    peers: new Map(names.filter((p) => p !== name).map((p) => [p, keyPairs.get(p)!.publicKey])),
    gossip: gossipOptions, bugs, writeLatencyMs: o.writeLatencyMs,
  })]));
  const ledger = createLedger();
  const specs = docSpecs(o.docs, names);
  const peaks = new Map(names.map((n) => [n, { queueBytes: 0, pendingBytes: 0 }]));
  const divergence: Array<[number, number, number]> = [];
  /** Violations of check (6), found at restarts during the run. */
  const rollbacks: Violation[] = [];
  let phase: SimProgress["phase"] = "setup";

  const countDivergent = (): [divergent: number, down: number] => {
    const live = [...regions.values()].flatMap((r) => (r.process ? [r.process.gossip.tree] : []));
    const down = regions.size - live.length;
    // Counting only live regions made a run with a region down look converged (seed 5730's plot did).
    if (down > 0) return [specs.length, down];
    let differing = 0;
    for (const spec of specs) {
      const hashes = live.map((tree) => tree.get(spec.id)?.join(",") ?? "");
      if (hashes.some((h) => h !== hashes[0])) differing++;
    }
    return [differing, 0];
  };
  const sample = (): void => {
    for (const [name, region] of regions) {
      if (!region.process) continue;
      const figures = memoryFigures(region.process.gossip);
      const peak = peaks.get(name)!;
      peak.queueBytes = Math.max(peak.queueBytes, figures.queueBytes);
      peak.pendingBytes = Math.max(peak.pendingBytes, figures.pendingBytes);
    }
    const [divergent, down] = countDivergent();
    divergence.push([scheduler.now(), divergent, down]);
    trace.event("sample", 0, scheduler.now(), divergent, down);
    onProgress?.({ phase, virtualMs: scheduler.now(), events: scheduler.executed, acked: ledger.acked.length, divergent });
    scheduler.after(o.sampleMs, sample);
  };

  async function runUntil(t: number, stop?: () => boolean): Promise<void> {
    for (;;) {
      if (stop?.()) return;
      const fn = scheduler.next(t);
      if (!fn) break;
      fn();
      await drainMicrotasks();
    }
    scheduler.advanceTo(t);
  }

  /** Runs events until `promise` settles (writes need virtual time to become durable). */
  async function drive<T>(promise: Promise<T>): Promise<T> {
    let settled = false;
    promise.then(() => (settled = true), () => (settled = true));
    await drainMicrotasks();
    while (!settled) {
      const fn = scheduler.next(Number.POSITIVE_INFINITY);
      if (!fn) throw new Error("simulator deadlock: nothing scheduled while waiting on the setup");
      fn();
      await drainMicrotasks();
    }
    return promise;
  }

  for (const region of regions.values()) await drive(region.start());
  // No document is created in advance: the first write to one in a region creates it (workload.ts).
  scheduler.after(0, sample);
  await runUntil(setupMs);

  // Chaos: writes at random times in random regions, and the nemesis.
  phase = "chaos";
  const chaosStartMs = scheduler.now();
  const healAtMs = chaosStartMs + o.chaosMs;
  const actions = o.script ?? drawNemesis({ regions: names, kinds: o.nemesis, chaosMs: o.chaosMs, random: random("nemesis"), rotRandom: random("rot") });
  const executor = createNemesisExecutor({ scheduler, network, regions, names, trace, chaosStartMs, mayRot: (name) => heldElsewhere(name),
    readDisk: withDiskReader,
    afterRestart: (name, held) => checkNoRollback(name, held) });
  // Scripted runs carry out exactly their script; drawn ones add crashes aimed at writes in flight.
  const buggifyRandom = random("buggify");
  const plan = o.script ? undefined : drawBuggify(o.nemesis, buggifyRandom);
  const buggify = plan && createBuggify({
    plan, random: buggifyRandom, scheduler, network, names, apply: (action) => executor.apply(action), silence: (name, silent) => executor.silence(name, silent),
    isUp: (name) => regions.get(name)!.process !== undefined && !scheduler.isPaused(name),
  });
  const workRandom = random("workload");
  const opRandom = random("ops");
  for (let n = 0; n < o.ops; n++) {
    const at = workRandom.float() * o.chaosMs;
    const region = names[workRandom.int(names.length)]!;
    const spec = specs[workRandom.int(specs.length)]!;
    scheduler.after(at, () => {
      const process = regions.get(region)!.process;
      if (!process) {
        ledger.skipped++;
        return;
      }
      void issueWrite(process.replica, spec, region, n, opRandom, ledger, trace, scheduler.now, names.indexOf(region), (kind) => buggify?.onWrite(region, checkable(kind)));
    }, region);
  }
  for (const action of actions) scheduler.after(action.at, () => executor.apply(action));
  await runUntil(healAtMs);

  /**
   * The documents whose copy on `name`'s disk (stopped) another region's disk holds too: every write it holds,
   * whoever made it, is at rest elsewhere. Damage to the only copy of a write loses it whatever the store does,
   * so the rot nemesis damages only these. Not the peers' in-memory state: a peer may serve a delta it has not
   * made durable yet, and a crash takes that back (seed 71: a sole copy rotted in two regions in turn).
   */
  async function heldElsewhere(name: string): Promise<string[]> {
    const ids = specs.map((s) => s.id);
    const own = await withDiskReader(name, (reader) => reader.versions(ids));
    const safe = ids.filter((id) => !own.has(id));
    let unsure = ids.filter((id) => own.has(id));
    for (const peer of names) {
      if (peer === name || unsure.length === 0) continue;
      const held = await withDiskReader(peer, async (reader) => {
        const found: string[] = [];
        for (const id of unsure) if (await reader.holds(id, own.get(id)!)) found.push(id);
        return found;
      });
      safe.push(...held);
      unsure = unsure.filter((id) => !held.includes(id));
    }
    return ids.filter((id) => safe.includes(id));
  }

  async function withDiskReader<T>(name: string, use: (reader: DiskReader) => Promise<T>): Promise<T> {
    const region = regions.get(name)!;
    const reader = await openDiskReader({
      disk: region.disk, masterKey: region.masterKey, region: name, clock: scheduler.clock(name, { alive: true }),
      deviceClock: scheduler.deviceClock, seed: o.seed + names.indexOf(name), afterOneMs: (resolve) => scheduler.after(1, resolve),
    });
    try {
      return await use(reader);
    } finally {
      await reader.close();
    }
  }

  /** Whether `replica` holds `token` now: "held", "older" (it serves the document without it), or "unknown". */
  async function holds(replica: Replica, doc: string, token: string): Promise<"held" | "older" | "unknown"> {
    // A read that would wait (not there yet) times out on the region's clock at once; the global timer stops
    // the wait if that clock never fires (the region crashed or paused meanwhile).
    const read = replica.read(doc, { after: token, timeoutMs: 0 }).then(
      () => "held" as const,
      (error: unknown) => (isConcordError(error, "not_caught_up") ? "older" as const : "unknown" as const),
    );
    return Promise.race([read, new Promise<"unknown">((resolve) => scheduler.after(1, () => resolve("unknown")))]);
  }

  /**
   * Check (6): restarted, `name` serves every tagged write it acknowledged, and, after a rot, every document at
   * least at the version its disk held before the damage (`heldBeforeRot`). Not its acknowledgements' version
   * tokens: those may include other regions' deltas it applied but had not yet made durable.
   */
  async function checkNoRollback(name: string, heldBeforeRot?: ReadonlyMap<string, string>): Promise<void> {
    const replica = regions.get(name)!.process?.replica;
    if (!replica) return;
    const older = new Set<string>();
    for (const [doc, token] of heldBeforeRot ?? []) if ((await holds(replica, doc, token)) === "older") older.add(doc);
    const values = new Map<string, unknown>();
    for (const write of ledger.acked) {
      if (write.region !== name || write.tag === undefined) continue;
      if (!values.has(write.doc)) values.set(write.doc, await replica.read(write.doc).then((v) => v.value, () => undefined));
      const value = values.get(write.doc);
      if (value !== undefined && !holdsWrite(value, write)) older.add(write.doc);
    }
    if (older.size > 0) {
      rollbacks.push({
        kind: "rollback", items: [...older],
        message: `${name} restarted at ${scheduler.now()} ms serves ${preview([...older])} older than it acknowledged or held before`,
      });
    }
  }

  // The final heal, then quiet until every replica agrees.
  phase = "quiesce";
  executor.healEverything();
  let convergedAt: number | undefined;
  const quiet = (): boolean => {
    const live = [...regions.values()].map((r) => r.process);
    if (live.some((p) => p === undefined) || [...regions.values()].some((r) => r.disk.inFlight() > 0)) return false;
    // A rotted region is quiet once it has checked its records and its peers repaired what it found damaged.
    if (executor.settling > 0 || live.some((p) => p!.replica.damagedDocs().length > 0)) return false;
    const roots = live.map((p) => `${p!.gossip.tree.size}:${p!.gossip.tree.node("").hash.join(",")}`);
    if (roots.some((r) => r !== roots[0])) return false;
    return live.every((p) => Object.values(p!.gossip.stats().peers).every((s) => s.queueEntries === 0));
  };
  const poll = (): void => {
    if (convergedAt === undefined && quiet()) convergedAt = scheduler.now();
    else scheduler.after(50, poll);
  };
  scheduler.after(0, poll);
  await runUntil(healAtMs + o.convergenceBoundMs, () => convergedAt !== undefined);
  const endMs = scheduler.now();
  divergence.push([endMs, ...countDivergent()]);

  // The checker.
  phase = "check";
  const violations: Violation[] = [];
  const contents = new Map<string, Contents>();
  for (const [name, region] of regions) if (region.process) contents.set(name, await readContents(region.process.replica));
  violations.push(...checkConvergence(contents));
  violations.push(...rollbacks);
  if (convergedAt === undefined) {
    violations.push({ kind: "liveness", message: `no convergence within ${o.convergenceBoundMs} ms of virtual time after the final heal` });
  }
  const acked = checkAckedWrites(contents, ledger);
  violations.push(...acked.violations);
  for (const name of names) violations.push(...checkMemory(name, peaks.get(name)!, o));
  for (const error of ledger.unexpected) violations.push({ kind: "error", message: error });
  // Durability: every region reopened from its disk alone must hold what it served.
  for (const [name, region] of regions) {
    const served = contents.get(name);
    if (!served) continue;
    region.crash(0);
    await drive(region.start());
    violations.push(...checkDurability(name, served, await readContents(region.process!.replica)));
    region.crash(0);
  }
  for (const [name, docs] of contents) {
    trace.text(name);
    for (const [id, json] of docs) trace.text(`${id}=${json}`);
  }
  for (const v of violations) trace.text(`${v.kind}:${v.message}`);

  return {
    seed: o.seed,
    converged: convergedAt !== undefined && !violations.some((v) => v.kind === "divergence"),
    lostWrites: acked.lost,
    convergenceMs: convergedAt === undefined ? null : convergedAt - healAtMs,
    traceHash: trace.hash(),
    events: scheduler.executed,
    messages: network.stats.messages,
    bytes: network.stats.bytes,
    violations,
    writes: { attempted: ledger.attempted, acked: ledger.acked.length, failed: ledger.failed, unanswered: ledger.unanswered, skipped: ledger.skipped },
    network: { lost: network.stats.lost, duplicated: network.stats.duplicated, timeouts: network.stats.timeouts },
    crashes: executor.crashes,
    peakQueueBytes: Math.max(...[...peaks.values()].map((p) => p.queueBytes)),
    replay: replayCommand(o),
    regions: names,
    timeline: { chaosStartMs, healAtMs, endMs, actions: executor.timeline, divergence },
    options: { ...withoutLarge(o) },
  };
}

function withoutLarge(o: SimOptions): Omit<SimOptions, "topology" | "script"> {
  const { topology: _t, script: _s, ...rest } = o;
  return rest;
}
