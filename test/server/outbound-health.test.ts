/**
 * Two regions started in-process (startRegion) where only one direction
 * works: b reaches a, a cannot reach b. a hears from b all the time, but a
 * cannot push to b, so a's /readyz and status page must say b is down; and
 * the gossip endpoint logs why it refused a frame.
 */
import { spawnSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegion, type RunningRegion } from "../../src/server/region.ts";
import { readTopologyFile } from "../../src/server/topology-file.ts";
import { tempDir } from "../helpers/replicas.ts";
import { bin, freePort, poll, writeTopology } from "./processes.ts";

let dir: Awaited<ReturnType<typeof tempDir>>;
const regions = new Map<string, RunningRegion>();
const logLines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  dir = await tempDir("concord-outbound-");
  const { file, urls } = await writeTopology(dir.path, ["a", "b"]);
  const init = spawnSync(process.execPath, [bin, "keys", "init", "--topology", file, "--data", dir.path], { encoding: "utf8" });
  if (init.status !== 0) throw new Error(init.stderr);
  // a's copy of the topology has a dead address for b.
  const aFile = join(dir.path, "topology-a.json");
  const text = await readFile(file, "utf8");
  await writeFile(aFile, text.replace(urls.b!, `http://127.0.0.1:${await freePort()}`));
  const logger = pino({ level: "warn" }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
  const port = (url: string) => Number(new URL(url).port);
  regions.set("a", await startRegion({ topology: await readTopologyFile(aFile), region: "a", dataDir: join(dir.path, "a"), port: port(urls.a!), logger, gossipTimeoutMs: 1000, auth: "off" }));
  regions.set("b", await startRegion({ topology: await readTopologyFile(file), region: "b", dataDir: join(dir.path, "b"), port: port(urls.b!), auth: "off" }));
});

afterAll(async () => {
  for (const region of regions.values()) await region.stop();
  await dir?.remove();
});

type Readyz = { ready: boolean; peers: Record<string, string>; reason?: string };
const readyz = async (id: string) => (await (await fetch(`${regions.get(id)!.url}/readyz`)).json()) as Readyz;

describe("outbound failure", () => {
  it("shows a peer we cannot push to as down in /readyz and the status page, although its frames reach us", async () => {
    // b talks to a (it caught up with a: ready), so a hears from b all along.
    await poll("b caught up with a", async () => ((await readyz("b")).ready ? true : undefined), 30_000);
    expect((await readyz("b")).peers).toEqual({ a: "up" });
    expect(await poll("a holds b down", async () => ((await readyz("a")).peers.b === "down" ? true : undefined), 30_000)).toBe(true);
    // a never completed a round with a peer: it is not ready either.
    expect(await readyz("a")).toMatchObject({ ready: false, reason: expect.stringMatching(/catching up/) });
    const page = await (await fetch(`${regions.get("a")!.url}/`)).text();
    expect(page).toMatch(/<td>b<\/td><td class="down">down<\/td>/);
  });

  it("logs why the gossip endpoint refused a frame", async () => {
    const answer = await fetch(`${regions.get("a")!.url}/internal/gossip`, { method: "POST", body: "not a frame at all", headers: { "content-type": "application/octet-stream" } });
    expect(answer.status).toBe(400);
    const line = await poll("the refusal in a's log", async () => logLines.find((l) => String(l.msg).startsWith("refused a gossip frame")));
    expect(line).toMatchObject({ level: 40, reason: "bad_magic", peer: "?" });
  });
});
