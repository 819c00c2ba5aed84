/**
 * Carries out nemesis actions against the running regions and the network,
 * and records what happened when, for the report's timeline. Partition links
 * and clogged links are kept apart, so healing a partition does not unclog a
 * link (and the other way round). `healEverything()` is the final heal.
 *
 * A crash can wait for a write in flight, so it may land later than it was
 * scheduled. A waiting crash is dropped when the region is restarted or at the
 * final heal: a crash landing after the heal would leave that region down for
 * good and fail the run falsely (seed 5730 did exactly that).
 */
import { createSeededRandom } from "../src/runtime/random.ts";
import type { DiskReader } from "./disk-reader.ts";
import type { NemesisAction } from "./nemesis.ts";
import { rotAtRest } from "./rot.ts";
import type { SimNetwork } from "./network.ts";
import type { SimRegion } from "./region.ts";
import type { Scheduler } from "./scheduler.ts";
import type { Trace } from "./trace.ts";

/** What the report draws: an action as carried out, at its actual virtual time. */
export interface TimelineEntry {
  at: number;
  type: NemesisAction["type"] | "final-heal";
  region?: string;
  detail?: string;
}

export interface NemesisExecutorDeps {
  scheduler: Scheduler;
  network: SimNetwork;
  regions: ReadonlyMap<string, SimRegion>;
  names: readonly string[];
  trace: Trace;
  chaosStartMs: number;
  /**
   * The documents whose records may rot in a stopped region: those whose
   * every write another region's disk holds too (damage to the only copy of a
   * write loses it, and no store can help that). Default: none.
   */
  mayRot?(region: string): Promise<string[]>;
  /** Reads a region's disk without touching it (disk-reader.ts); needed with `mayRot`. */
  readDisk?<T>(region: string, use: (reader: DiskReader) => Promise<T>): Promise<T>;
  /**
   * Hears every restart the executor makes, once the region is up (the runner's no-rollback check), with
   * the version of each document a rotted region's disk held before the damage.
   */
  afterRestart?(region: string, heldBeforeRot?: ReadonlyMap<string, string>): Promise<void>;
}

export interface NemesisExecutor {
  apply(action: NemesisAction): void;
  /**
   * Cuts (or restores) every outbound link of a region, apart from partitions
   * and clogs: BUGGIFY's power cut, which takes the network card down with the disk.
   */
  silence(region: string, silent: boolean): void;
  healEverything(): void;
  readonly timeline: TimelineEntry[];
  readonly crashes: number;
  /**
   * Regions rotted and not yet restarted and scrubbed (their first check of
   * every record done): the run is not quiet before this is 0.
   */
  readonly settling: number;
}

const actionCodes: Record<TimelineEntry["type"], number> = {
  partition: 1, heal: 2, crash: 3, restart: 4, pause: 5, resume: 6, skew: 7, clog: 8, unclog: 9, net: 10, "final-heal": 11, rot: 12,
};

export function createNemesisExecutor(deps: NemesisExecutorDeps): NemesisExecutor {
  const { scheduler, network, regions, trace } = deps;
  const partition = new Set<string>();
  const clogged = new Set<string>();
  const silenced = new Set<string>();
  const timeline: TimelineEntry[] = [];
  /** Regions with a crash waiting for a write in flight; restart and the final heal cancel it. */
  const waiting = new Set<string>();
  let healed = false;
  let crashes = 0;
  /** Damage being done to stopped regions: their restart waits for it. */
  const rotting = new Map<string, Promise<ReadonlyMap<string, string> | undefined>>();
  /**
   * Regions whose restart waits for their damage or scrub: a second restart meanwhile must not start them early.
   * A crash releases the region (its restart would otherwise be refused for good); the mark tells a stale
   * release from the current one.
   */
  const held = new Map<string, object>();
  /** Rotted regions whose scrub has not finished (a crash cut it short), with what their disk held before the rot. */
  const unscrubbed = new Map<string, ReadonlyMap<string, string>>();
  /**
   * Rots are decided and done one at a time: two stopped regions each counting the other's disk as the second
   * copy of a write, then both rotting, would lose it.
   */
  let rotTurn: Promise<unknown> = Promise.resolve();

  const sync = (): void => {
    network.healAll();
    for (const link of new Set([...partition, ...clogged])) {
      const [from, to] = link.split(">") as [string, string];
      network.block(from, to);
    }
    for (const from of silenced) for (const to of deps.names) if (to !== from) network.block(from, to);
  };
  const log = (entry: Omit<TimelineEntry, "at">): void => {
    timeline.push({ at: scheduler.now(), ...entry });
    trace.event("nemesis", entry.region === undefined ? -1 : deps.names.indexOf(entry.region), actionCodes[entry.type]);
  };
  const replicaOf = (region: SimRegion) => region.process?.replica;
  const logStart = (region: SimRegion): void => {
    log({ type: "restart", region: region.name });
    trace.event("restart", deps.names.indexOf(region.name), region.incarnation + 1);
  };
  const restart = (region: SimRegion): void => {
    waiting.delete(region.name);
    if (region.process || region.booting || held.has(region.name)) return;
    const damage = rotting.get(region.name);
    if (!damage && !unscrubbed.has(region.name)) {
      logStart(region);
      void region.start().then(() => deps.afterRestart?.(region.name));
      return;
    }
    // Restarted once the damage is on its disk; then every record is checked once (the scrub each
    // anti-entropy round makes), so what is damaged is known before the run may call itself quiet.
    rotting.delete(region.name);
    const mark = {};
    held.set(region.name, mark);
    void (async () => {
      const before = damage ? await damage : undefined;
      if (region.process || region.booting) return;
      if (before) unscrubbed.set(region.name, before);
      logStart(region);
      await region.start();
      const incarnation = region.incarnation;
      const pending = unscrubbed.get(region.name);
      if (pending) await replicaOf(region)?.scrub(Number.MAX_SAFE_INTEGER).catch(() => undefined);
      // Crashed meanwhile (seed 45 crashed 6 ms into the scrub): the next start scrubs; this one is gone.
      if (region.incarnation !== incarnation || !region.process) return;
      unscrubbed.delete(region.name);
      await deps.afterRestart?.(region.name, pending);
    })().finally(() => {
      if (held.get(region.name) === mark) held.delete(region.name);
    });
  };
  const rot = (region: SimRegion, action: Extract<NemesisAction, { type: "rot" }>): void => {
    const mayRot = deps.mayRot;
    if (!mayRot || region.process || region.booting || rotting.has(region.name) || held.has(region.name)) return;
    const readDisk = deps.readDisk!;
    const damage = (async () => {
      // The region stays down (its restart waits) until another disk holds all it has of some document,
      // or the final heal.
      for (;;) {
        const turn = rotTurn.then(async () => {
          const docs = await mayRot(region.name);
          if (docs.length === 0) return undefined;
          // What its disk serves before the damage: the restarted region must serve no less (or refuse).
          const before = await readDisk(region.name, (reader) => reader.versions(docs));
          const what = await rotAtRest(region.disk, region.masterKey, docs, action.mode, createSeededRandom(action.pick));
          log({ type: "rot", region: region.name, detail: what });
          return before;
        });
        rotTurn = turn.catch(() => undefined);
        const before = await turn;
        if (before) return before;
        if (healed) {
          log({ type: "rot", region: region.name, detail: "skipped: no other disk held all it had of any document until the final heal" });
          return undefined;
        }
        await new Promise<void>((resolve) => scheduler.after(100, resolve));
      }
    })();
    rotting.set(region.name, damage);
    // A skipped rot leaves nothing to wait for: unless a restart already took it, it must not keep the run
    // from being quiet (a rot skipped after the final heal, with no restart to come, hung the run).
    void damage.then((before) => {
      if (before === undefined && rotting.get(region.name) === damage) rotting.delete(region.name);
    });
  };
  const pushed = (region: SimRegion): boolean =>
    Object.values(region.process?.gossip.stats().peers ?? {}).every((p) => p.queueEntries === 0);
  const crash = (region: SimRegion, landed: number, waitUntil: number, whenPushed = false): void => {
    if (healed || (!region.process && !region.booting)) return;
    // Wait (briefly) for a write in flight, so crashes hit what acknowledgement promised was durable; or, for a
    // crash whose disk then rots, until its own writes are pushed to its peers.
    const ready = whenPushed ? pushed(region) : region.disk.inFlight() > 0;
    if (!ready && scheduler.now() < waitUntil) {
      waiting.add(region.name);
      scheduler.after(1, () => {
        if (waiting.has(region.name)) crash(region, landed, waitUntil, whenPushed);
      });
      return;
    }
    waiting.delete(region.name);
    crashes++;
    const inFlight = region.disk.inFlight();
    log({ type: "crash", region: region.name, detail: `${inFlight} batch(es) in flight, ${Math.min(landed, inFlight)} landed` });
    trace.event("crash", deps.names.indexOf(region.name), inFlight, landed);
    scheduler.resume(region.name);
    region.crash(landed);
    held.delete(region.name);
  };

  return {
    timeline,
    get crashes() {
      return crashes;
    },
    get settling() {
      return held.size + rotting.size + unscrubbed.size;
    },
    apply(action) {
      if (healed) return; // nothing is injected after the final heal
      const region = "region" in action ? regions.get(action.region) : undefined;
      switch (action.type) {
        case "partition":
          partition.clear();
          for (const [from, to] of action.links) partition.add(`${from}>${to}`);
          sync();
          log({ type: "partition", detail: `${action.shape}: ${action.links.length} directed link(s) cut` });
          return;
        case "heal":
          partition.clear();
          sync();
          log({ type: "heal" });
          return;
        case "clog":
        case "unclog":
          for (const link of [`${action.from}>${action.to}`, `${action.to}>${action.from}`]) {
            if (action.type === "clog") clogged.add(link);
            else clogged.delete(link);
          }
          sync();
          log({ type: action.type, detail: `${action.from}–${action.to}` });
          return;
        case "net":
          network.setConditions({
            ...(action.loss !== undefined ? { loss: action.loss } : {}),
            ...(action.duplicate !== undefined ? { duplicate: action.duplicate } : {}),
            ...(action.reorderMs !== undefined ? { reorderMs: action.reorderMs } : {}),
          });
          log({ type: "net", detail: `loss ${network.conditions.loss.toFixed(2)}, dup ${network.conditions.duplicate.toFixed(2)}, reorder ${network.conditions.reorderMs} ms` });
          return;
      }
      if (!region) return;
      switch (action.type) {
        case "crash":
          crash(region, action.landed, scheduler.now() + (action.whileWriting || action.whenPushed ? action.waitMs ?? 500 : 0), action.whenPushed);
          return;
        case "restart":
          restart(region);
          return;
        case "rot":
          rot(region, action);
          return;
        case "pause":
          if (!region.process) return;
          scheduler.pause(region.name);
          log({ type: "pause", region: region.name });
          return;
        case "resume":
          if (!scheduler.isPaused(region.name)) return;
          scheduler.resume(region.name);
          log({ type: "resume", region: region.name });
          return;
        case "skew":
          scheduler.setRate(region.name, action.rate);
          log({ type: "skew", region: region.name, detail: `timers ×${action.rate}` });
          return;
      }
    },
    silence(name, silent) {
      if (healed || silenced.has(name) === silent) return;
      if (silent) silenced.add(name);
      else silenced.delete(name);
      sync();
      log({ type: silent ? "clog" : "unclog", region: name, detail: `${name}–* (outbound, BUGGIFY)` });
    },
    healEverything() {
      healed = true;
      waiting.clear();
      partition.clear();
      clogged.clear();
      silenced.clear();
      sync();
      network.setConditions({ loss: 0, duplicate: 0, reorderMs: 0 });
      for (const name of deps.names) {
        if (scheduler.isPaused(name)) scheduler.resume(name);
        scheduler.setRate(name, 1);
      }
      log({ type: "final-heal" });
      for (const region of regions.values()) restart(region);
    },
  };
}
