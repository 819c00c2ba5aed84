/**
 * The options of one simulation run, their defaults, the injectable bugs, and
 * the one-line command that replays a run.
 */
import { ConcordError } from "../src/errors.ts";
import type { InjectedBugs } from "../src/internal.ts";
import { nemesisKinds, type NemesisAction, type NemesisKind } from "./nemesis.ts";

/** `--inject-bug` names and the defects they switch on. */
export const bugNames = {
  "drop-deltas": { dropFailedPushes: true, skipAntiEntropy: true },
  "ack-before-durable": { ackBeforeDurable: true },
  "skip-remote-persist": { skipRemotePersist: true },
  "racy-container-create": { racyContainerCreate: true },
  "serve-rolled-back-tail": { serveRolledBackTail: true },
} as const satisfies Record<string, InjectedBugs>;

export type BugName = keyof typeof bugNames;

export interface SimOptions {
  seed: number;
  /** How many regions (the first N of the topology; more are added with a 50 ms latency). */
  regions: number;
  docs: number;
  ops: number;
  /** Faults drawn at random for this seed (ignored when `script` is given). */
  nemesis: readonly NemesisKind[];
  /** Scripted faults (from a scenario file) instead of drawn ones. */
  script?: readonly NemesisAction[];
  /** Name of the scenario file, for the replay command. */
  scenarioPath?: string;
  bugs: readonly BugName[];
  /** Length of the chaos phase (writes and faults), virtual ms. */
  chaosMs: number;
  /** Liveness bound: convergence must come within this long after the final heal, virtual ms. */
  convergenceBoundMs: number;
  /** Time for a store write to become durable, virtual ms (crashes can land in between). */
  writeLatencyMs: number;
  /** Per-peer queue bound handed to gossip: small, so partitions overflow it. */
  queueMaxBytes: number;
  pendingMaxBytes: number;
  /** Bandwidth of each directed link, bytes per virtual ms (serialization delay); 0 for unlimited. */
  bandwidthBytesPerMs: number;
  /** How often divergence is sampled for the report, virtual ms. */
  sampleMs: number;
  /** The topology JSON (regions/five.json by default) and its path, for the replay command. */
  topology?: unknown;
  topologyPath?: string;
}

export const defaultOptions: SimOptions = {
  seed: 1,
  regions: 5,
  docs: 10,
  ops: 300,
  nemesis: nemesisKinds,
  bugs: [],
  chaosMs: 20_000,
  convergenceBoundMs: 60_000,
  writeLatencyMs: 8,
  queueMaxBytes: 16 * 1024,
  pendingMaxBytes: 256 * 1024,
  bandwidthBytesPerMs: 1000,
  sampleMs: 250,
};

/** Parses a comma-separated list of nemesis kinds ("all" and "none" allowed). */
export function parseNemesis(text: string): NemesisKind[] {
  if (text === "all") return [...nemesisKinds];
  if (text === "none" || text === "") return [];
  return text.split(",").map((name) => {
    const kind = name.trim() as NemesisKind;
    if (!nemesisKinds.includes(kind)) {
      throw new ConcordError("invalid_argument", `unknown nemesis "${name}" (one of ${nemesisKinds.join(", ")}, all, none)`);
    }
    return kind;
  });
}

export function parseBugs(names: readonly string[]): BugName[] {
  return names.flatMap((n) => n.split(",")).map((name) => {
    if (!(name in bugNames)) {
      throw new ConcordError("invalid_argument", `unknown bug "${name}" (one of ${Object.keys(bugNames).join(", ")})`);
    }
    return name as BugName;
  });
}

export function injectedBugs(names: readonly BugName[]): InjectedBugs {
  return Object.assign({}, ...names.map((n) => bugNames[n])) as InjectedBugs;
}

/** The exact command that replays a run. */
export function replayCommand(o: SimOptions): string {
  const parts = ["npx concord sim", `--seed ${o.seed}`, `--regions ${o.regions}`, `--docs ${o.docs}`, `--ops ${o.ops}`];
  if (o.scenarioPath) parts.push(`--scenario ${o.scenarioPath}`);
  else parts.push(`--nemesis ${o.nemesis.length === 0 ? "none" : o.nemesis.join(",")}`);
  if (o.chaosMs !== defaultOptions.chaosMs) parts.push(`--chaos-ms ${o.chaosMs}`);
  if (o.convergenceBoundMs !== defaultOptions.convergenceBoundMs) parts.push(`--bound-ms ${o.convergenceBoundMs}`);
  if (o.writeLatencyMs !== defaultOptions.writeLatencyMs) parts.push(`--write-latency-ms ${o.writeLatencyMs}`);
  if (o.queueMaxBytes !== defaultOptions.queueMaxBytes) parts.push(`--queue-max-bytes ${o.queueMaxBytes}`);
  if (o.bandwidthBytesPerMs !== defaultOptions.bandwidthBytesPerMs) parts.push(`--bandwidth ${o.bandwidthBytesPerMs}`);
  if (o.topologyPath) parts.push(`--topology ${o.topologyPath}`);
  for (const bug of o.bugs) parts.push(`--inject-bug ${bug}`);
  return parts.join(" ");
}
