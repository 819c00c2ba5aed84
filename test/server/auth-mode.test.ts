/**
 * Running without authentication is an explicit choice: a region whose
 * tokens.json is missing refuses to start (naming the file and how to make a
 * token), and `auth: "off"` / `concord serve --auth off` starts open, logs a
 * warning and says so on the status page.
 */
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.ts";
import type { Topology } from "../../src/gossip/topology.ts";
import { startRegion } from "../../src/server/region.ts";
import { readTopologyFile, writeTopologyFile } from "../../src/server/topology-file.ts";
import { initTopologyKeys } from "../../src/server/topology-keys.ts";
import { tempDir } from "../helpers/replicas.ts";
import { startConcord, writeTopology } from "./processes.ts";

let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let topologyFile: string;

beforeAll(async () => {
  dir = await tempDir("concord-auth-mode-");
  const { file } = await writeTopology(dir.path, ["solo"]);
  ({ topology } = await initTopologyKeys(await readTopologyFile(file), dir.path));
  topologyFile = join(dir.path, "topology.json");
  await writeTopologyFile(topologyFile, topology);
});

afterAll(async () => {
  await dir?.remove();
});

describe("authentication mode", () => {
  it("refuses to start a region without tokens.json, naming the file and how to create a token", async () => {
    const error = await startRegion({ topology, region: "solo", dataDir: join(dir.path, "solo"), port: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isConcordError(error, "invalid_argument")).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain(join(dir.path, "solo", "tokens.json"));
    expect(message).toContain("sha256");
    expect(message).toContain("--auth off");
  });

  it("starts open with auth off, logs a warning and shows it on the status page", async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const region = await startRegion({ topology, region: "solo", dataDir: join(dir.path, "solo"), port: 0, auth: "off", logger });
    try {
      const warning = lines.find((l) => l.level === 40 && l.auth === "off");
      expect(warning?.msg).toMatch(/authentication is off/);
      const page = await (await fetch(`${region.url}/`)).text();
      expect(page).toContain("Authentication is off");
      expect((await fetch(`${region.url}/v1/docs/canary-0f3e9a`, { method: "PUT", body: JSON.stringify({ kind: "yjs" }), headers: { "content-type": "application/json" } })).status).toBe(201);
      // The region's request log names the document by its keyed hash only.
      expect(lines.some((l) => l.msg === "request" && String(l.path).startsWith("/v1/docs/<"))).toBe(true);
      expect(JSON.stringify(lines)).not.toContain("canary-0f3e9a");
    } finally {
      await region.stop();
    }
  });

  it("makes concord serve exit with a clear error when tokens.json is missing and --auth off was not given", async () => {
    const proc = startConcord(["serve", "--topology", topologyFile, "--region", "solo", "--data", join(dir.path, "solo"), "--port", "0"]);
    expect(await proc.exited).toBe(2);
    expect(proc.output()).toContain(`no tokens file at ${join(dir.path, "solo", "tokens.json")}`);
    expect(proc.output()).toContain("[invalid_argument]");
  });
});
