/**
 * Client request limits are deployment settings: the topology's `limits`
 * section reaches every region's server (and survives `concord cluster`'s
 * copy of the topology), a bad section is a clear error, and `concord serve`
 * flags override it.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSodium } from "../../src/crypto/sodium.ts";
import { isConcordError } from "../../src/errors.ts";
import { parseTopology, topologyToJSON } from "../../src/gossip/topology.ts";
import { startRegion } from "../../src/server/region.ts";
import { parseServerLimits } from "../../src/server/server-limits.ts";
import { readTopologyFile } from "../../src/server/topology-file.ts";
import { initTopologyKeys } from "../../src/server/topology-keys.ts";
import { tempDir } from "../helpers/replicas.ts";
import { writeTopology } from "./processes.ts";

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  await loadSodium();
  dir = await tempDir("concord-limits-");
});
afterAll(async () => dir?.remove());

const limits = { rateLimit: { requestsPerSecond: 0.5, burst: 2 }, maxConcurrentRequests: 64, maxConcurrentPerToken: 8 };

describe("limits in the topology", () => {
  it("keeps a topology's limits section through a round trip and checks every field", () => {
    const topology = parseTopology({ name: "t", regions: [{ id: "a", url: "http://127.0.0.1:1", publicKey: "" }], limits });
    expect((topologyToJSON(topology) as { limits: unknown }).limits).toEqual(limits);
    expect(parseServerLimits(topology.limits)).toEqual(limits);
    expect(parseServerLimits({ rateLimit: { requestsPerSecond: 3 } })).toEqual({ rateLimit: { requestsPerSecond: 3, burst: 3 } });
    for (const wrong of [{ maxConcurrentRequests: 0 }, { maxConcurrentPerToken: 1.5 }, { rateLimit: { burst: 3 } }, { rateLimt: {} }, []]) {
      let error: unknown;
      try {
        parseServerLimits(wrong);
      } catch (e) {
        error = e;
      }
      expect(isConcordError(error, "invalid_argument"), JSON.stringify(wrong)).toBe(true);
    }
  });

  it("applies the topology's rate limit to a started region, and the region's own options override it", async () => {
    const { file } = await writeTopology(dir.path, ["solo"]);
    const { topology: keyed } = await initTopologyKeys(await readTopologyFile(file), dir.path);
    const topology = parseTopology({ ...(topologyToJSON(keyed) as object), limits: { rateLimit: { requestsPerSecond: 0.001, burst: 2 } } });
    const statuses = async (url: string) => {
      const out = [];
      for (let i = 0; i < 3; i++) out.push((await fetch(`${url}/v1/docs?limit=1`)).status);
      return out;
    };
    let region = await startRegion({ topology, region: "solo", dataDir: join(dir.path, "solo"), port: 0, auth: "off" });
    try {
      expect(await statuses(region.url)).toEqual([200, 200, 429]);
    } finally {
      await region.stop();
    }
    region = await startRegion({ topology, region: "solo", dataDir: join(dir.path, "solo"), port: 0, auth: "off", server: { rateLimit: { requestsPerSecond: 0.001, burst: 3 } } });
    try {
      expect(await statuses(region.url)).toEqual([200, 200, 200]);
    } finally {
      await region.stop();
    }
  });
});
