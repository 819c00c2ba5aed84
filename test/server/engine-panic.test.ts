/**
 * An Automerge engine panic (a real wasm trap) does not leave a dead module
 * serving 500s behind a green /readyz: the request that met it gets 503,
 * /readyz says 503 with the reason while the engine is rebuilt, the panic is
 * counted and logged, and afterwards Automerge documents (cached before the
 * panic, so reloaded from the store) read and take writes again. Yjs never stops.
 */
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Topology } from "../../src/gossip/topology.ts";
import { startRegion, type RunningRegion } from "../../src/server/region.ts";
import { readTopologyFile } from "../../src/server/topology-file.ts";
import { initTopologyKeys } from "../../src/server/topology-keys.ts";
import { automergeRecovered, setAutomergeRestartForTesting, restartAutomergeWasm, trapAutomergeWasmForTesting } from "../../src/runtime/automerge-wasm.ts";
import { tempDir } from "../helpers/replicas.ts";
import { writeTopology } from "./processes.ts";

let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let region: RunningRegion;
const lines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  dir = await tempDir("concord-engine-panic-");
  const { file } = await writeTopology(dir.path, ["solo"]);
  ({ topology } = await initTopologyKeys(await readTopologyFile(file), dir.path));
  const logger = pino({ level: "info" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  region = await startRegion({ topology, region: "solo", dataDir: join(dir.path, "solo"), port: 0, auth: "off", logger });
});

afterAll(async () => {
  await region?.stop();
  await dir?.remove();
});

const json = { "content-type": "application/json" };
const put = (id: string, kind: string) => fetch(`${region.url}/v1/docs/${id}`, { method: "PUT", headers: json, body: JSON.stringify({ kind }) });
const patch = (id: string, ops: unknown[]) => fetch(`${region.url}/v1/docs/${id}`, { method: "PATCH", headers: json, body: JSON.stringify({ ops }) });
const read = async (id: string) => (await (await fetch(`${region.url}/v1/docs/${id}`)).json()) as Record<string, unknown>;
const panicsMetric = async () => {
  const text = await (await fetch(`${region.url}/metrics`)).text();
  return Number(/concord_engine_panics_total\{engine="automerge"\} (\d+)/.exec(text)?.[1] ?? "NaN");
};

describe("an Automerge engine panic in a region", () => {
  it("answers 503 and flips /readyz while the engine is rebuilt, then serves every document again", async () => {
    expect((await put("am", "automerge")).status).toBe(201);
    expect((await patch("am", [{ op: "set", path: ["title"], value: "kept" }])).status).toBe(200);
    expect((await put("yj", "yjs")).status).toBe(201);
    expect((await fetch(`${region.url}/readyz`)).status).toBe(200);
    const panicsBefore = await panicsMetric();

    // Hold the rebuild open so the not-ready window can be seen.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const undo = setAutomergeRestartForTesting(async () => {
      await held;
      restartAutomergeWasm();
    });
    try {
      trapAutomergeWasmForTesting();
      const failed = await patch("am", [{ op: "set", path: ["title"], value: "during" }]);
      expect(failed.status).toBe(503);
      expect(((await failed.json()) as { error: { code: string } }).error.code).toBe("unavailable");

      const notReady = await fetch(`${region.url}/readyz`);
      expect(notReady.status).toBe(503);
      expect(((await notReady.json()) as { reason: string }).reason).toMatch(/Automerge engine crashed/);
      expect((await fetch(`${region.url}/v1/docs/am`)).status).toBe(503); // never a 500
      expect((await patch("yj", [{ op: "set", path: ["m", "k"], value: 1 }])).status).toBe(200); // Yjs is untouched
      expect(await panicsMetric()).toBe(panicsBefore + 1);
      expect(lines.some((l) => l.level === 50 && l.engine === "automerge" && /panicked/.test(String(l.msg)))).toBe(true);
    } finally {
      release();
      undo();
    }
    await automergeRecovered();

    expect((await fetch(`${region.url}/readyz`)).status).toBe(200);
    // The cached instance died with the module: it is reloaded from the store, acknowledged writes intact.
    expect(await read("am")).toMatchObject({ value: { title: "kept" } });
    expect((await patch("am", [{ op: "set", path: ["title"], value: "after" }])).status).toBe(200);
    expect(await read("am")).toMatchObject({ value: { title: "after" } });
    expect((await put("am2", "automerge")).status).toBe(201);
    expect((await patch("am2", [{ op: "insertText", path: ["body"], index: 0, text: "hi" }])).status).toBe(200);
    expect(await panicsMetric()).toBe(panicsBefore + 1);
  });

  it("recovers from a second panic on the rebuilt module the same way", async () => {
    const panicsBefore = await panicsMetric();
    trapAutomergeWasmForTesting();
    expect((await patch("am", [{ op: "set", path: ["again"], value: 1 }])).status).toBe(503);
    await automergeRecovered();
    expect((await fetch(`${region.url}/readyz`)).status).toBe(200);
    expect((await patch("am", [{ op: "set", path: ["again"], value: 2 }])).status).toBe(200);
    expect(await read("am")).toMatchObject({ value: { title: "after", again: 2 } });
    expect(await panicsMetric()).toBe(panicsBefore + 1);
  });
});
