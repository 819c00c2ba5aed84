/**
 * A poison document: one whose stored state traps the Automerge engine on
 * every load. Each trap rebuilds the engine and flips /readyz to 503; after
 * three in a row the document is quarantined (500, code "quarantined") and
 * refused before the engine is touched, so /readyz stays ready, the engine
 * is not brought down again, and every other document is served. The status
 * page and a metric show it; releasing it serves it again.
 * The trap is real (trapAutomergeWasmForTesting), set off by a test hook
 * whenever the engine is given this document's bytes.
 */
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { setAutomergeCallHookForTesting } from "../../src/doc/automerge-guard.ts";
import type { Topology } from "../../src/gossip/topology.ts";
import { notePanic } from "../../src/doc/automerge-health.ts";
import { automergeRecovered, restartAutomergeWasm, setAutomergeRestartForTesting, trapAutomergeWasmForTesting } from "../../src/runtime/automerge-wasm.ts";
import { startRegion, type RunningRegion } from "../../src/server/region.ts";
import { readTopologyFile } from "../../src/server/topology-file.ts";
import { initTopologyKeys } from "../../src/server/topology-keys.ts";
import { quarantineAfterTraps } from "../../src/replica/replica.ts";
import { tempDir } from "../helpers/replicas.ts";
import { writeTopology } from "./processes.ts";

let dir: Awaited<ReturnType<typeof tempDir>>;
let topology: Topology;
let region: RunningRegion;
const lines: Array<Record<string, unknown>> = [];

beforeAll(async () => {
  dir = await tempDir("concord-engine-quarantine-");
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
const put = (id: string, init: unknown) => fetch(`${region.url}/v1/docs/${id}`, { method: "PUT", headers: json, body: JSON.stringify({ kind: "automerge", init }) });
const get = (id: string) => fetch(`${region.url}/v1/docs/${id}`);
const ready = async () => (await fetch(`${region.url}/readyz`)).status;
const metric = async (name: string) => {
  const text = await (await fetch(`${region.url}/metrics`)).text();
  return Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\d+)$`, "m").exec(text)?.[1] ?? "NaN");
};
const panics = () => metric("concord_engine_panics_total");

/** A real trap, noted as the guarded call that met it would note it (which starts the rebuild). */
function killEngine(): void {
  trapAutomergeWasmForTesting();
  notePanic(new WebAssembly.RuntimeError("trapped by the test"));
}

const marker = new TextEncoder().encode("POISON-4711");
const holdsMarker = (bytes: Uint8Array) => {
  outer: for (let i = 0; i + marker.length <= bytes.length; i++) {
    for (let j = 0; j < marker.length; j++) if (bytes[i + j] !== marker[j]) continue outer;
    return true;
  }
  return false;
};

describe("a document that traps the Automerge engine on every load", () => {
  it("is quarantined after repeated traps, and the region stays ready and serves everything else", async () => {
    expect((await put("poison", { note: "POISON-4711" })).status).toBe(201);
    expect((await put("fine", { note: "ok" })).status).toBe(201);
    // From now on, the engine traps whenever it is handed the poison document's bytes (its snapshot or log).
    const undo = setAutomergeCallHookForTesting((method, args) => {
      if ((method === "load" || method === "apply") && args.some((a) => a instanceof Uint8Array && holdsMarker(a))) trapAutomergeWasmForTesting();
    });
    try {
      // Kill the module once, as a guarded call would (noted), so both cached documents are stale and reload from the store.
      killEngine();
      await automergeRecovered();
      const before = await panics();
      for (let trap = 1; trap <= quarantineAfterTraps; trap++) {
        const failed = await get("poison");
        expect(failed.status).toBe(503); // each of these brought the engine down
        await automergeRecovered();
        expect(await panics()).toBe(before + trap);
      }
      const refused = await get("poison");
      expect(refused.status).toBe(500);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("quarantined");
      // Refused before the engine was touched: no new panic, and /readyz never leaves ready.
      expect(await ready()).toBe(200);
      for (let i = 0; i < 5; i++) expect((await get("poison")).status).toBe(500);
      const patch = await fetch(`${region.url}/v1/docs/poison`, { method: "PATCH", headers: json, body: JSON.stringify({ ops: [{ op: "set", path: ["x"], value: 1 }] }) });
      expect(patch.status).toBe(500);
      expect(await panics()).toBe(before + quarantineAfterTraps);
      expect(await ready()).toBe(200);
      expect(((await (await get("fine")).json()) as { value: unknown }).value).toEqual({ note: "ok" });

      expect(await metric("concord_docs_quarantined")).toBe(1);
      expect(await (await fetch(`${region.url}/`)).text()).toMatch(/id="quarantined"[^<]*: 1</);
      expect(region.replica.quarantined()).toEqual(["poison"]);
      // Logged once, with a keyed hash of the id, never the id itself.
      const logged = lines.filter((l) => /quarantined a document/.test(String(l.msg)));
      expect(logged.length).toBe(1);
      expect(logged[0]!.level).toBe(50);
      expect(typeof logged[0]!.doc).toBe("string");
      expect(JSON.stringify(lines)).not.toContain('"poison"');
    } finally {
      undo();
    }
    // The cause is gone (the hook is off): an operator releases the document and it is served again, content intact.
    const listed = await fetch(`${region.url}/v1/admin/quarantine`);
    expect(await listed.json()).toEqual({ quarantined: ["poison"] });
    expect((await fetch(`${region.url}/v1/admin/quarantine?id=fine`, { method: "DELETE" })).status).toBe(404);
    const released = await fetch(`${region.url}/v1/admin/quarantine?id=poison`, { method: "DELETE" });
    expect(released.status).toBe(200);
    expect(await released.json()).toEqual({ released: true });
    const back = await get("poison");
    expect(back.status).toBe(200);
    expect(((await back.json()) as { value: unknown }).value).toEqual({ note: "POISON-4711" });
    expect(await metric("concord_docs_quarantined")).toBe(0);
  });

  it("does not count traps that a document's request merely met (another call killed the engine)", async () => {
    expect((await put("bystander", { n: 1 })).status).toBe(201);
    for (let i = 0; i < quarantineAfterTraps + 1; i++) {
      // The module dies outside any request for "bystander", and its rebuild is held open while that request meets it.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const undo = setAutomergeRestartForTesting(async () => {
        await held;
        restartAutomergeWasm();
      });
      try {
        killEngine();
        expect((await get("bystander")).status).toBe(503);
      } finally {
        release();
        undo();
      }
      await automergeRecovered();
    }
    expect((await get("bystander")).status).toBe(200);
    expect(region.replica.quarantined()).toEqual([]);
  });
});
