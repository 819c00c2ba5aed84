/**
 * Scripted scenarios: a JSON file that fixes the faults of a run instead of
 * drawing them from the seed (the seed still drives the workload and the
 * network). Times are ms after the start of the chaos phase.
 *
 *   {
 *     "name": "isolate then crash",
 *     "chaosMs": 6000, "docs": 4, "ops": 200, "writeLatencyMs": 40,   // optional run options
 *     "events": [
 *       { "at": 500,  "do": "partition", "shape": "isolate", "regions": ["us-east"] },
 *       { "at": 2000, "do": "crash", "region": "us-east", "landed": 0, "whileWriting": true },
 *       { "at": 3000, "do": "restart", "region": "us-east" },
 *       { "at": 3500, "do": "heal" }
 *     ]
 *   }
 *
 * Actions: partition (shape isolate|halves|ring|bridge|one-way, `regions` in
 * order: see partitionLinks), heal, crash, restart, pause, resume, skew
 * (`rate`), clog/unclog (`from`, `to`), net (`loss`, `duplicate`, `reorderMs`).
 */
import { ConcordError } from "../src/errors.ts";
import { partitionLinks, partitionShapes, type NemesisAction, type PartitionShape } from "./nemesis.ts";

export interface Scenario {
  name: string;
  chaosMs?: number;
  docs?: number;
  ops?: number;
  writeLatencyMs?: number;
  actions: NemesisAction[];
}

const bad = (message: string) => new ConcordError("invalid_argument", `scenario: ${message}`);

/** Parses a scenario against the run's region names. Throws ConcordError("invalid_argument") naming the bad field. */
export function parseScenario(json: unknown, regions: readonly string[]): Scenario {
  if (typeof json !== "object" || json === null || !Array.isArray((json as { events?: unknown }).events)) {
    throw bad("expected an object with an events array");
  }
  const raw = json as { name?: unknown; chaosMs?: unknown; docs?: unknown; ops?: unknown; writeLatencyMs?: unknown; events: unknown[] };
  const region = (value: unknown, at: string): string => {
    if (typeof value !== "string" || !regions.includes(value)) throw bad(`${at} must be one of ${regions.join(", ")}`);
    return value;
  };
  const num = (value: unknown, at: string, fallback?: number): number => {
    if (value === undefined && fallback !== undefined) return fallback;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) throw bad(`${at} must be a number >= 0`);
    return value;
  };
  const actions = raw.events.map((entry, i): NemesisAction => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const at = num(e.at, `events[${i}].at`);
    const where = `events[${i}]`;
    switch (e.do) {
      case "partition": {
        const shape = e.shape as PartitionShape;
        if (!partitionShapes.includes(shape)) throw bad(`${where}.shape must be one of ${partitionShapes.join(", ")}`);
        const named = Array.isArray(e.regions) ? e.regions.map((r, j) => region(r, `${where}.regions[${j}]`)) : [];
        const order = [...named, ...regions.filter((r) => !named.includes(r))];
        return { at, type: "partition", shape, links: partitionLinks(shape, order) };
      }
      case "heal":
        return { at, type: "heal" };
      case "crash":
        return { at, type: "crash", region: region(e.region, `${where}.region`), landed: num(e.landed, `${where}.landed`, 0), whileWriting: e.whileWriting === true };
      case "restart":
      case "pause":
      case "resume":
        return { at, type: e.do, region: region(e.region, `${where}.region`) };
      case "skew":
        return { at, type: "skew", region: region(e.region, `${where}.region`), rate: num(e.rate, `${where}.rate`) || 1 };
      case "clog":
      case "unclog":
        return { at, type: e.do, from: region(e.from, `${where}.from`), to: region(e.to, `${where}.to`) };
      case "net":
        return {
          at, type: "net",
          ...(e.loss !== undefined ? { loss: num(e.loss, `${where}.loss`) } : {}),
          ...(e.duplicate !== undefined ? { duplicate: num(e.duplicate, `${where}.duplicate`) } : {}),
          ...(e.reorderMs !== undefined ? { reorderMs: num(e.reorderMs, `${where}.reorderMs`) } : {}),
        };
      default:
        throw bad(`${where}.do must be partition, heal, crash, restart, pause, resume, skew, clog, unclog or net`);
    }
  });
  return {
    name: typeof raw.name === "string" ? raw.name : "scenario",
    ...(raw.chaosMs !== undefined ? { chaosMs: num(raw.chaosMs, "chaosMs") } : {}),
    ...(raw.docs !== undefined ? { docs: num(raw.docs, "docs") } : {}),
    ...(raw.ops !== undefined ? { ops: num(raw.ops, "ops") } : {}),
    ...(raw.writeLatencyMs !== undefined ? { writeLatencyMs: num(raw.writeLatencyMs, "writeLatencyMs") } : {}),
    actions: actions.sort((a, b) => a.at - b.at),
  };
}
