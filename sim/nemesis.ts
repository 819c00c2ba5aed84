/**
 * The nemesis: the faults of a run as a list of timed actions, either drawn at
 * random from the seed (this file) or scripted in a scenario file
 * (scenario.ts). Partitions come in shapes — isolate one region, halves,
 * majority ring, bridge (A–B and B–C work, A–C does not), one-way — and are
 * turned into sets of blocked directed links here, so a scripted and a drawn
 * run execute the same way.
 */
import type { Random } from "../src/runtime/random.ts";

/**
 * "rot" damages a crashed region's records at rest before it restarts (see rot.ts); it rides on crashes, so it
 * is drawn from its own random stream and the other kinds' draws are the same with it or without it.
 */
export const nemesisKinds = ["partition", "crash", "pause", "skew", "clog", "loss", "dup", "reorder", "rot"] as const;
export type NemesisKind = (typeof nemesisKinds)[number];

export const partitionShapes = ["isolate", "halves", "ring", "bridge", "one-way"] as const;
export type PartitionShape = (typeof partitionShapes)[number];

/** One fault or repair at virtual time `at` (ms after the start of the chaos phase). */
export type NemesisAction =
  | { at: number; type: "partition"; shape: PartitionShape; links: Array<[string, string]> }
  | { at: number; type: "heal" }
  /** `landed`: how many in-flight batches reach the disk; `whileWriting`: wait (≤ `waitMs`, default 500 ms) for a write in flight. */
  | { at: number; type: "crash"; region: string; landed: number; whileWriting: boolean; waitMs?: number; whenPushed?: boolean }
  | { at: number; type: "restart"; region: string }
  /** Damage a stopped region's records at rest (rot.ts); `pick` seeds which. Skipped if the region is up. */
  | { at: number; type: "rot"; region: string; mode: RotMode; pick: number }
  | { at: number; type: "pause"; region: string }
  | { at: number; type: "resume"; region: string }
  | { at: number; type: "skew"; region: string; rate: number }
  | { at: number; type: "clog"; from: string; to: string }
  | { at: number; type: "unclog"; from: string; to: string }
  | { at: number; type: "net"; loss?: number; duplicate?: number; reorderMs?: number };

export const rotModes = ["drop-tail", "flip"] as const;
export type RotMode = (typeof rotModes)[number];

function shuffle<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const both = (a: string, b: string): Array<[string, string]> => [[a, b], [b, a]];
const between = (left: string[], right: string[]) => left.flatMap((a) => right.flatMap((b) => both(a, b)));

/**
 * The blocked directed links of a partition shape. `order` (for scripted
 * runs) fixes who is where: isolate cuts order[0]; halves splits at the
 * middle; bridge makes order[0] the bridge; one-way silences order[0]'s
 * outgoing links; ring keeps only neighbours in `order`.
 */
export function partitionLinks(shape: PartitionShape, order: readonly string[]): Array<[string, string]> {
  const [first, ...rest] = order;
  if (first === undefined) return [];
  switch (shape) {
    case "isolate":
      return between([first], rest);
    case "halves": {
      const half = Math.floor(order.length / 2);
      return between(order.slice(0, half), order.slice(half));
    }
    case "bridge": {
      // first talks to everyone; the others split into two sides that cannot talk.
      const half = Math.ceil(rest.length / 2);
      return between(rest.slice(0, half), rest.slice(half));
    }
    case "one-way":
      return rest.map((b): [string, string] => [first, b]);
    case "ring": {
      const n = order.length;
      const links: Array<[string, string]> = [];
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          const distance = Math.min(j - i, n - (j - i));
          if (distance > 1) links.push(...both(order[i]!, order[j]!));
        }
      }
      return links;
    }
  }
}

export interface NemesisPlan {
  regions: readonly string[];
  kinds: readonly NemesisKind[];
  /** Length of the chaos phase, ms; every fault starts before 90% of it. */
  chaosMs: number;
  random: Random;
  /** Draws "rot" (its own stream, so the other kinds' draws do not depend on it). Default: `random`. */
  rotRandom?: Random;
}

/** Share of crashes whose region rots at rest before its restart. */
const rotShare = 0.75;

/** Draws a random sequence of faults and repairs for one seed. */
export function drawNemesis(plan: NemesisPlan): NemesisAction[] {
  const { regions, chaosMs, random } = plan;
  const kinds = plan.kinds.filter((k) => k !== "rot");
  const rotRandom = plan.kinds.includes("rot") ? plan.rotRandom ?? random : undefined;
  const actions: NemesisAction[] = [];
  if (kinds.length === 0 || regions.length < 2) return actions;
  const busyUntil = new Map<string, number>();
  const span = (min: number, max: number) => Math.round(min + random.float() * (max - min));
  const pickFree = (t: number) => {
    const free = regions.filter((r) => (busyUntil.get(r) ?? 0) < t);
    return free.length === 0 ? undefined : free[random.int(free.length)];
  };
  let t = span(200, 800);
  while (t < chaosMs * 0.9) {
    // Partitions and crashes are the faults that matter most: they are drawn twice as often.
    const weighted = kinds.flatMap((k) => (k === "partition" || k === "crash" ? [k, k] : [k]));
    const kind = weighted[random.int(weighted.length)]!;
    const end = Math.min(chaosMs, t + span(300, Math.max(400, chaosMs / 3)));
    switch (kind) {
      case "partition": {
        const shape = partitionShapes[random.int(partitionShapes.length)]!;
        actions.push({ at: t, type: "partition", shape, links: partitionLinks(shape, shuffle(regions, random)) });
        actions.push({ at: end, type: "heal" });
        break;
      }
      case "crash": {
        const region = pickFree(t);
        if (!region) break;
        busyUntil.set(region, end + 1);
        actions.push({ at: t, type: "crash", region, landed: random.int(3), whileWriting: random.float() < 0.7 });
        if (rotRandom && rotRandom.float() < rotShare) {
          // Mostly a rolled-back log tail (what the record chain exists for), sometimes a flipped record.
          const mode: RotMode = rotRandom.float() < 0.8 ? "drop-tail" : "flip";
          actions.push({ at: end, type: "rot", region, mode, pick: rotRandom.int(2 ** 31) });
        }
        actions.push({ at: end, type: "restart", region });
        break;
      }
      case "pause": {
        const region = pickFree(t);
        if (!region) break;
        busyUntil.set(region, end + 1);
        actions.push({ at: t, type: "pause", region }, { at: end, type: "resume", region });
        break;
      }
      case "skew": {
        const region = regions[random.int(regions.length)]!;
        const rate = [0.25, 0.5, 2, 4][random.int(4)]!;
        actions.push({ at: t, type: "skew", region, rate }, { at: end, type: "skew", region, rate: 1 });
        break;
      }
      case "clog": {
        // Swizzle-clog: cut links one at a time, then restore them in a random order.
        const pairs = shuffle(regions.flatMap((a, i) => regions.slice(i + 1).map((b): [string, string] => [a, b])), random);
        const cut = pairs.slice(0, 2 + random.int(Math.min(4, pairs.length - 1)));
        let at = t;
        for (const [from, to] of cut) actions.push({ at: (at += span(50, 300)), type: "clog", from, to });
        for (const [from, to] of shuffle(cut, random)) actions.push({ at: (at += span(50, 300)), type: "unclog", from, to });
        break;
      }
      case "loss":
        actions.push({ at: t, type: "net", loss: 0.05 + random.float() * 0.3 }, { at: end, type: "net", loss: 0 });
        break;
      case "dup":
        actions.push({ at: t, type: "net", duplicate: 0.05 + random.float() * 0.3 }, { at: end, type: "net", duplicate: 0 });
        break;
      case "reorder":
        actions.push({ at: t, type: "net", reorderMs: span(50, 400) }, { at: end, type: "net", reorderMs: 0 });
        break;
    }
    t += span(150, Math.max(300, chaosMs / 6));
  }
  // And one crash that rots for sure, late in the chaos phase, so every seed with "rot" sees one.
  if (rotRandom) {
    const at = Math.round(chaosMs * (0.2 + 0.2 * rotRandom.float()));
    // Restarted after the crash's longest wait for its pushes, so the rot finds it down.
    const waitMs = Math.round(chaosMs * 0.4);
    const end = Math.min(chaosMs, at + waitMs + 300 + rotRandom.int(300));
    // On a region no other crash or pause touches meanwhile (a restart would cancel the waiting crash).
    const free = regions.filter((r) => !actions.some((a) =>
      "region" in a && a.region === r && (a.type === "crash" || a.type === "pause") && a.at <= end + 1 && (busyUntil.get(r) ?? 0) >= at));
    const pool = free.length > 0 ? free : regions;
    const region = pool[rotRandom.int(pool.length)]!;
    // Once its own writes are pushed: the rot may damage only what a peer holds too.
    actions.push({ at, type: "crash", region, landed: rotRandom.int(3), whileWriting: false, whenPushed: true, waitMs });
    actions.push({ at: end, type: "rot", region, mode: "drop-tail", pick: rotRandom.int(2 ** 31) }, { at: end, type: "restart", region });
  }
  // Stable order by time; equal times keep the order they were drawn in.
  return actions.map((a, i) => [a, i] as const).sort((x, y) => x[0].at - y[0].at || x[1] - y[1]).map(([a]) => a);
}
