/**
 * A topology: the regions of one deployment, where each listens, its public
 * key, and the one-way latency between each pair (what the simulator models).
 * Parsed from JSON (regions/*.json) with every field checked: a bad file is a
 * clear ConcordError("invalid_argument") naming the field, never a crash later.
 *
 *   {
 *     "name": "local",
 *     "regions": [{ "id": "us-east", "url": "http://127.0.0.1:7101", "publicKey": "<base64url, 32 bytes>" }, ...],
 *     "latencyMs": { "us-east": { "eu-west": 38 }, ... }      // one-way, symmetric, ms
 *   }
 *
 * `publicKey` may be empty until `concord keys init --topology` fills it in.
 */
import { sodium } from "../crypto/sodium.ts";
import { ConcordError } from "../errors.ts";

export interface RegionSpec {
  id: string;
  url: string;
  /** X25519 public key, 32 bytes; undefined until keys are created. */
  publicKey: Uint8Array | undefined;
}

export interface Topology {
  name: string;
  regions: RegionSpec[];
  /** The file's `limits` section, as written: client request limits, checked by the server (src/server/server-limits.ts), not here. */
  limits?: unknown;
  /** One-way latency between two regions, ms (0 for a region and itself). */
  latencyMs(a: string, b: string): number;
  region(id: string): RegionSpec;
}

/** Decodes base64url without libsodium, so a topology parses before sealing is loaded. */
function fromBase64Url(text: string): Uint8Array | undefined {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) return undefined;
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(text.length / 4) * 4, "="));
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

const idPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
const bad = (message: string) => new ConcordError("invalid_argument", `topology: ${message}`);

export function parseTopology(json: unknown, source = "topology"): Topology {
  const at = (field: string) => `${source}: ${field}`;
  if (typeof json !== "object" || json === null) throw bad(`${source} is not a JSON object`);
  const raw = json as Record<string, unknown>;
  const name = typeof raw.name === "string" ? raw.name : source;
  if (!Array.isArray(raw.regions) || raw.regions.length === 0) throw bad(at("regions must be a non-empty array"));
  const regions: RegionSpec[] = raw.regions.map((entry: unknown, i: number) => {
    const r = entry as Record<string, unknown>;
    if (typeof r?.id !== "string" || !idPattern.test(r.id)) throw bad(at(`regions[${i}].id must match ${idPattern}`));
    if (typeof r.url !== "string" || !/^https?:\/\/[^/]+/.test(r.url)) throw bad(at(`regions[${i}].url must be an http(s) URL`));
    let publicKey: Uint8Array | undefined;
    if (typeof r.publicKey === "string" && r.publicKey !== "") {
      publicKey = fromBase64Url(r.publicKey);
      if (!publicKey) throw bad(at(`regions[${i}].publicKey is not base64url`));
      if (publicKey.length !== 32) throw bad(at(`regions[${i}].publicKey must be 32 bytes`));
    }
    return { id: r.id, url: r.url.replace(/\/+$/, ""), publicKey };
  });
  const ids = new Set(regions.map((r) => r.id));
  if (ids.size !== regions.length) throw bad(at("region ids must be unique"));
  const latency = new Map<string, number>();
  const matrix = (raw.latencyMs ?? {}) as Record<string, Record<string, unknown>>;
  for (const [a, row] of Object.entries(matrix)) {
    for (const [b, ms] of Object.entries(row ?? {})) {
      if (!ids.has(a) || !ids.has(b)) throw bad(at(`latencyMs names an unknown region (${a} → ${b})`));
      if (typeof ms !== "number" || !(ms >= 0) || ms > 10_000) throw bad(at(`latencyMs.${a}.${b} must be 0..10000`));
      latency.set(`${a} ${b}`, ms);
      latency.set(`${b} ${a}`, ms);
    }
  }
  return {
    name,
    regions,
    ...(raw.limits !== undefined ? { limits: raw.limits } : {}),
    latencyMs: (a, b) => (a === b ? 0 : latency.get(`${a} ${b}`) ?? 50),
    region(id) {
      const found = regions.find((r) => r.id === id);
      if (!found) throw new ConcordError("invalid_argument", `region "${id}" is not in topology ${name} (${[...ids].join(", ")})`);
      return found;
    },
  };
}

/** The JSON form, for writing a topology back (e.g. after filling in public keys). */
export function topologyToJSON(topology: Topology): unknown {
  const latencyMs: Record<string, Record<string, number>> = {};
  topology.regions.forEach((a, i) => {
    for (const b of topology.regions.slice(i + 1)) (latencyMs[a.id] ??= {})[b.id] = topology.latencyMs(a.id, b.id);
  });
  return {
    name: topology.name,
    regions: topology.regions.map((r) => ({
      id: r.id,
      url: r.url,
      publicKey: r.publicKey ? sodium().to_base64(r.publicKey, sodium().base64_variants.URLSAFE_NO_PADDING) : "",
    })),
    latencyMs,
    ...(topology.limits !== undefined ? { limits: topology.limits } : {}),
  };
}
