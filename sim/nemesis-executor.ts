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
import type { NemesisAction } from "./nemesis.ts";
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
}

const actionCodes: Record<TimelineEntry["type"], number> = {
  partition: 1, heal: 2, crash: 3, restart: 4, pause: 5, resume: 6, skew: 7, clog: 8, unclog: 9, net: 10, "final-heal": 11,
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
  const restart = (region: SimRegion): void => {
    waiting.delete(region.name);
    if (region.process || region.booting) return;
    log({ type: "restart", region: region.name });
    trace.event("restart", deps.names.indexOf(region.name), region.incarnation + 1);
    void region.start();
  };
  const crash = (region: SimRegion, landed: number, waitUntil: number): void => {
    if (healed || (!region.process && !region.booting)) return;
    // Wait (briefly) for a write in flight, so crashes hit what acknowledgement promised was durable.
    if (region.disk.inFlight() === 0 && scheduler.now() < waitUntil) {
      waiting.add(region.name);
      scheduler.after(1, () => {
        if (waiting.has(region.name)) crash(region, landed, waitUntil);
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
  };

  return {
    timeline,
    get crashes() {
      return crashes;
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
          crash(region, action.landed, scheduler.now() + (action.whileWriting ? action.waitMs ?? 500 : 0));
          return;
        case "restart":
          restart(region);
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
