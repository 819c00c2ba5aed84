/**
 * BUGGIFY-style crashes (after FoundationDB): faults aimed at the moments that
 * matter instead of at random times. A crash at a random moment rarely finds
 * an acknowledged write that is neither on the disk yet nor on any peer, so a
 * bug like acknowledging before durability slipped through most seeds. Here,
 * when a client write is issued in a region, that region may lose power while
 * the write is still in flight, and comes back after a short downtime. The
 * chance is high when the region cannot reach any peer (partitioned or clogged
 * away: nothing it writes can have left it). Otherwise it is small, and the
 * power cut takes the region's outbound links down as the write starts (the
 * network card dies with the disk), so the write's push cannot have left either.
 * Every choice comes from the run's seeded Random; the plan is drawn per seed,
 * so some seeds crash eagerly and some hardly at all (a touch of swarm testing).
 */
import type { Random } from "../src/runtime/random.ts";
import type { NemesisAction, NemesisKind } from "./nemesis.ts";
import type { SimNetwork } from "./network.ts";
import type { Scheduler } from "./scheduler.ts";

export interface BuggifyPlan {
  /** Chance that a write issued in a region cut off from every peer crashes it while in flight. */
  cutOffChance: number;
  /** The same for a write issued in a region that can reach a peer; its outbound links are cut first. */
  anyChance: number;
  /** At most this many BUGGIFY crashes per run: crashes cost the workload its writes. */
  maxCrashes: number;
  downMsMin: number;
  downMsMax: number;
}

/** The plan of one seed; none when the run draws no crashes. */
export function drawBuggify(kinds: readonly NemesisKind[], random: Random): BuggifyPlan | undefined {
  if (!kinds.includes("crash")) return undefined;
  return {
    cutOffChance: 0.5 + random.float() * 0.5,
    anyChance: 0.08 + random.float() * 0.12,
    maxCrashes: 3 + random.int(2),
    downMsMin: 100,
    downMsMax: 600,
  };
}

export interface BuggifyDeps {
  plan: BuggifyPlan;
  random: Random;
  scheduler: Scheduler;
  network: SimNetwork;
  names: readonly string[];
  /** Carries out a crash or restart (the nemesis executor's apply). */
  apply(action: NemesisAction): void;
  /** Cuts or restores a region's outbound links (the nemesis executor's silence). */
  silence(region: string, silent: boolean): void;
  /** Whether the region runs a process and is not paused. */
  isUp(region: string): boolean;
}

export interface Buggify {
  /**
   * Called as a client write is issued in `region`, before the replica sees it (so a cut comes before its
   * push). `checkable`: the checker would see this write lost; only such writes draw a crash, because a
   * crash spent on an edit the checker cannot see is a crash wasted.
   */
  onWrite(region: string, checkable: boolean): void;
  readonly crashes: number;
}

export function createBuggify(deps: BuggifyDeps): Buggify {
  const { plan, random, scheduler, network, names } = deps;
  let crashes = 0;
  const cutOff = (region: string) => names.every((peer) => peer === region || network.isBlocked(region, peer));
  return {
    get crashes() {
      return crashes;
    },
    onWrite(region, checkable) {
      // Draw on every write, whatever the outcome, so one choice does not shift the next.
      const roll = random.float();
      if (!checkable || crashes >= plan.maxCrashes || !deps.isUp(region)) return;
      const isolated = cutOff(region);
      if (roll >= (isolated ? plan.cutOffChance : plan.anyChance)) return;
      crashes++;
      const downMs = plan.downMsMin + random.float() * (plan.downMsMax - plan.downMsMin);
      if (!isolated) deps.silence(region, true);
      // The write reaches the store in this same event; the crash waits (≤ 100 ms) until it is in flight,
      // and nothing of it lands: that is what acknowledgement must not have promised.
      deps.apply({ at: scheduler.now(), type: "crash", region, landed: 0, whileWriting: true, waitMs: 100 });
      scheduler.after(downMs, () => {
        deps.apply({ at: scheduler.now(), type: "restart", region });
        if (!isolated) deps.silence(region, false);
      });
    },
  };
}
