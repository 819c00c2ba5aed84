/**
 * Issue 10, finding 7, as the probe found it: two regions on real HTTP
 * (startRegion, LMDB in temp dirs), every gossip request from a to b
 * captured by a proxy on a's path to b (b cannot reach a: everything it
 * learns of a comes through the proxy), then a goes down, b restarts, and
 * every captured frame is POSTed to b's /internal/gossip. None may be
 * accepted, whether b had seen it before its restart or never.
 */
import { spawnSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readHeader } from "../../src/gossip/frame.ts";
import type { ReplicaEvent } from "../../src/replica/types.ts";
import { startRegion, type RunningRegion } from "../../src/server/region.ts";
import { readTopologyFile } from "../../src/server/topology-file.ts";
import { tempDir } from "../helpers/replicas.ts";
import { bin, freePort, poll, writeTopology } from "./processes.ts";

let dir: Awaited<ReturnType<typeof tempDir>>;
let proxy: Server;
const running = new Set<RunningRegion>();
/** Bodies a POSTed to b's gossip endpoint; `forward` off: they never reach b. */
const captured: Uint8Array[] = [];
let forward = true;
let bUrl = "";

beforeAll(async () => {
  dir = await tempDir("concord-replay-http-");
  const { file, urls } = await writeTopology(dir.path, ["a", "b"]);
  const init = spawnSync(process.execPath, [bin, "keys", "init", "--topology", file, "--data", dir.path], { encoding: "utf8" });
  if (init.status !== 0) throw new Error(init.stderr);
  bUrl = urls.b!;
  // a reaches b through the proxy; b reaches a directly.
  const proxyPort = await freePort();
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.url === "/internal/gossip") captured.push(new Uint8Array(body));
      if (!forward) return void res.destroy();
      fetch(`${bUrl}${req.url}`, { method: req.method!, body, headers: { "content-type": "application/octet-stream" } }).then(
        async (answer) => res.writeHead(answer.status, { "content-type": "application/octet-stream" }).end(Buffer.from(await answer.arrayBuffer())),
        () => res.destroy(),
      );
    });
  });
  await new Promise<void>((resolve) => proxy.listen(proxyPort, "127.0.0.1", resolve));
  const aFile = join(dir.path, "topology-a.json");
  await writeFile(aFile, (await readFile(file, "utf8")).replace(urls.b!, `http://127.0.0.1:${proxyPort}`));
  const bFile = join(dir.path, "topology-b.json");
  await writeFile(bFile, (await readFile(file, "utf8")).replace(urls.a!, `http://127.0.0.1:${await freePort()}`));
  const port = (url: string) => Number(new URL(url).port);
  running.add(await startRegion({ topology: await readTopologyFile(aFile), region: "a", dataDir: join(dir.path, "a"), port: port(urls.a!), auth: "off", gossipTimeoutMs: 1000 }));
  running.add(await startRegion({ topology: await readTopologyFile(bFile), region: "b", dataDir: join(dir.path, "b"), port: port(urls.b!), auth: "off", gossipTimeoutMs: 1000 }));
});

afterAll(async () => {
  for (const region of running) await region.stop();
  await new Promise((resolve) => proxy?.close(resolve));
  await dir?.remove();
});

const region = (id: string) => [...running].find((r) => r.id === id)!;

describe("gossip frames replayed over HTTP against a restarted region (issue 10, finding 7)", () => {
  it("refuses every captured frame, delivered before the restart or never, and applies none", async () => {
    const a = region("a");
    const statusAtB = async (id: string) => (await region("b").replica.status(id)).state;
    for (let i = 0; i < 20; i++) {
      await a.replica.create(`seen-${i}`, "yjs");
      await a.replica.patch(`seen-${i}`, [{ op: "set", path: ["m", "v"], value: i }]);
    }
    await poll("b holds a's writes", async () => ((await statusAtB("seen-19")) === "present" ? true : undefined));
    const delivered = captured.length;
    forward = false;
    for (let i = 0; i < 20; i++) {
      await a.replica.create(`unseen-${i}`, "yjs");
      await a.replica.patch(`unseen-${i}`, [{ op: "set", path: ["m", "v"], value: i }]);
    }
    // a retries what b never got (push with backoff, heartbeats, anti-entropy): wait for a good number of frames.
    await poll("frames withheld from b", async () => (captured.length >= delivered + 30 ? true : undefined));

    // The real a goes down; b restarts on its data directory.
    await a.stop();
    running.delete(a);
    const b1 = region("b");
    await b1.stop();
    running.delete(b1);
    const topology = await readTopologyFile(join(dir.path, "topology-b.json"));
    const b = await startRegion({ topology, region: "b", dataDir: join(dir.path, "b"), port: 0, auth: "off" });
    running.add(b);
    const applied: ReplicaEvent[] = [];
    b.replica.observe((event) => event.origin === "remote" && applied.push(event));

    const frames = [...captured];
    const answers = { refusal: 0, empty: 0, accepted: 0 };
    for (const frame of frames) {
      const answer = await fetch(`${b.url}/internal/gossip`, { method: "POST", body: Buffer.from(frame), headers: { "content-type": "application/octet-stream" } });
      const bytes = new Uint8Array(await answer.arrayBuffer());
      if (answer.status !== 200) answers.empty++;
      else if (readHeader(bytes, 1 << 30).header.kind === "refusal") answers.refusal++;
      else answers.accepted++;
    }
    const rejected = (b.gossip.stats() as { peers: Record<string, { framesRejected: Record<string, number> }> }).peers.a!.framesRejected;
    console.log(`finding 7 over HTTP: tried ${frames.length} (${delivered} delivered before the restart, ${frames.length - delivered} never), ` +
      `refused ${answers.refusal} with a sealed refusal (${JSON.stringify(rejected)}), accepted ${answers.accepted}, applied ${applied.length}`);
    expect(answers).toEqual({ refusal: frames.length, empty: 0, accepted: 0 });
    expect(rejected).toEqual({ stale_epoch: frames.length });
    expect(applied).toEqual([]);
    for (let i = 0; i < 20; i++) expect(await b.replica.status(`unseen-${i}`)).toEqual({ state: "absent" });
  });
});
