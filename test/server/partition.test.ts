/**
 * Two real servers whose gossip runs through fault proxies: each region's
 * URL in the topology is its proxy, and the server listens behind it. Clients
 * talk to the servers directly, so both sides keep taking writes during a cut
 * (a black hole, then severed connections), and everything converges after
 * the heal. A slow link still replicates.
 */
import { spawnSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFaultProxy, type FaultMode, type FaultProxy } from "../helpers/fault-proxy.ts";
import { tempDir } from "../helpers/replicas.ts";
import { bin, freePort, poll, startConcord, stop, waitReady, type Proc } from "./processes.ts";

const ids = ["east", "west"] as const;
type Id = (typeof ids)[number];
let dir: Awaited<ReturnType<typeof tempDir>>;
const direct: Record<string, string> = {};
const proxies = new Map<Id, FaultProxy>();
const procs = new Map<Id, Proc>();

const cut = (mode: FaultMode) => {
  for (const proxy of proxies.values()) proxy.set(mode);
};

async function api(id: Id, path: string, json?: unknown, method = json === undefined ? "GET" : "PATCH"): Promise<Response> {
  return fetch(direct[id]! + path, { method, ...(json !== undefined ? { body: JSON.stringify(json), headers: { "content-type": "application/json" } } : {}) });
}

async function entries(id: Id): Promise<string[]> {
  const r = await api(id, "/v1/docs/board");
  return r.ok ? ((await r.json()) as { value: { entries?: string[] } }).value.entries ?? [] : [];
}

const write = async (id: Id, entry: string) => {
  const r = await api(id, "/v1/docs/board", { ops: [{ op: "push", path: ["entries"], value: entry }] });
  expect(r.status, await r.clone().text()).toBe(200);
};

async function converged(expected: string[]): Promise<void> {
  const want = [...expected].sort();
  let last: string[][] = [];
  await poll("both sides hold every write", async () => {
    last = await Promise.all(ids.map((id) => entries(id).then((e) => [...e].sort())));
    return last.every((e) => JSON.stringify(e) === JSON.stringify(want)) ? true : undefined;
  }).catch((error: Error) => Promise.reject(new Error(`${error.message}: ${JSON.stringify(last)}`)));
  // Same order too: the CRDT merged them identically.
  const [a, b] = await Promise.all(ids.map(entries));
  expect(a).toEqual(b);
}

beforeAll(async () => {
  dir = await tempDir("concord-partition-");
  const ports: Record<string, number> = {};
  for (const id of ids) ports[id] = await freePort();
  for (const id of ids) {
    proxies.set(id, await startFaultProxy(ports[id]!));
    direct[id] = `http://127.0.0.1:${ports[id]}`;
  }
  const topology = join(dir.path, "topology.json");
  await writeFile(topology, JSON.stringify({ name: "partition", regions: ids.map((id) => ({ id, url: proxies.get(id)!.url, publicKey: "" })) }));
  const init = spawnSync(process.execPath, [bin, "keys", "init", "--topology", topology, "--data", dir.path], { encoding: "utf8" });
  expect(init.status, init.stderr).toBe(0);
  for (const id of ids) {
    procs.set(id, startConcord(["serve", "--topology", topology, "--region", id, "--data", join(dir.path, id), "--port", String(ports[id]), "--log-level", "warn", "--auth", "off"]));
  }
  await Promise.all(ids.map((id) => waitReady(direct[id]!, procs.get(id))));
  expect((await api("east", "/v1/docs/board", { kind: "automerge" }, "PUT")).status).toBe(201);
  await write("east", "start");
  await converged(["start"]);
});

afterAll(async () => {
  await Promise.all([...procs.values()].map((p) => stop(p, "SIGKILL")));
  await Promise.all([...proxies.values()].map((p) => p.close()));
  await dir?.remove();
});

describe("partitions between server processes through a fault proxy", () => {
  const all = ["start"];

  it("keeps both sides writable through a black-hole cut and converges after the heal", async () => {
    cut({ mode: "drop" });
    const droppedBefore = { east: proxies.get("east")!.stats().dropped, west: proxies.get("west")!.stats().dropped };
    for (let i = 0; i < 5; i++) {
      await write("east", `east-dark-${i}`);
      await write("west", `west-dark-${i}`);
      all.push(`east-dark-${i}`, `west-dark-${i}`);
    }
    // The cut is real: once gossip has tried both ways (bytes vanished in each proxy), nothing has crossed.
    await poll("gossip tries both ways through the black hole", async () => (ids.every((id) => proxies.get(id)!.stats().dropped > droppedBefore[id]) ? true : undefined));
    expect((await entries("west")).some((e) => e.startsWith("east-dark"))).toBe(false);
    expect((await entries("east")).some((e) => e.startsWith("west-dark"))).toBe(false);
    cut({ mode: "pass" });
    await converged(all);
  });

  it("converges after severed connections are restored", async () => {
    const refusedBefore = { east: proxies.get("east")!.stats().refused, west: proxies.get("west")!.stats().refused };
    cut({ mode: "sever" });
    for (let i = 0; i < 5; i++) {
      await write("east", `east-severed-${i}`);
      await write("west", `west-severed-${i}`);
      all.push(`east-severed-${i}`, `west-severed-${i}`);
    }
    await poll("gossip is refused both ways", async () => (ids.every((id) => proxies.get(id)!.stats().refused > refusedBefore[id]) ? true : undefined));
    expect((await entries("west")).some((e) => e.startsWith("east-severed"))).toBe(false);
    cut({ mode: "pass" });
    await converged(all);
  });

  it("replicates over a slow link", async () => {
    cut({ mode: "delay", delayMs: 150 });
    await write("east", "east-slow");
    await write("west", "west-slow");
    all.push("east-slow", "west-slow");
    await converged(all);
    cut({ mode: "pass" });
  });
});
