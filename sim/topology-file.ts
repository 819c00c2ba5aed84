/**
 * Loads a topology file for the simulator (regions/five.json by default) and
 * picks the regions of a run: the first N of the file, and more with a 50 ms
 * latency when N exceeds it.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { ConcordError } from "../src/errors.ts";
import { parseTopology, type Topology } from "../src/gossip/topology.ts";

export const defaultTopologyPath = fileURLToPath(new URL("../regions/five.json", import.meta.url));

let defaultJson: unknown;

/** The JSON of a topology file; the default one is read once per process. */
export function readTopologyFile(path?: string): unknown {
  if (path === undefined && defaultJson !== undefined) return defaultJson;
  const file = path ?? defaultTopologyPath;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new ConcordError("invalid_argument", `cannot read topology ${file}: ${(cause as Error).message}`, { cause });
  }
  if (path === undefined) defaultJson = json;
  return json;
}

export interface SimTopology {
  regions: string[];
  latencyMs(a: string, b: string): number;
}

export function simTopology(json: unknown, count: number): SimTopology {
  if (!Number.isInteger(count) || count < 2 || count > 16) throw new ConcordError("invalid_argument", `--regions must be 2..16, got ${count}`);
  const topology: Topology = parseTopology(json);
  const names = topology.regions.map((r) => r.id).slice(0, count);
  for (let i = names.length; i < count; i++) names.push(`region-${i + 1}`);
  const known = new Set(topology.regions.map((r) => r.id));
  return {
    regions: names,
    latencyMs: (a, b) => (known.has(a) && known.has(b) ? topology.latencyMs(a, b) : a === b ? 0 : 50),
  };
}
