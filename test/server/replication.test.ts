/**
 * Three real `concord serve` processes from a generated topology replicate
 * over HTTP: a write in one region is readable in the others, concurrent
 * writes converge, and a region killed with SIGKILL and restarted catches up
 * without losing an acknowledged write.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { poll, startProcessCluster, stop, type ProcessCluster } from "./processes.ts";

const ids = ["r1", "r2", "r3"];
let cluster: ProcessCluster;
const api = (id: string, path: string, init?: RequestInit & { json?: unknown }) => cluster.api(id, path, init);
const value = (id: string, doc: string) => cluster.value(id, doc);

beforeAll(async () => {
  cluster = await startProcessCluster(ids, "concord-repl-");
});

afterAll(async () => cluster?.stop());

describe("replication between server processes", () => {
  it("makes a write in one region readable in the other two", async () => {
    expect((await api("r1", "/v1/docs/greeting", { method: "PUT", json: { kind: "yjs" } })).status).toBe(201);
    const patch = await api("r1", "/v1/docs/greeting", { method: "PATCH", json: { ops: [{ op: "set", path: ["meta", "text"], value: "hello" }] } });
    expect(patch.status).toBe(200);
    for (const id of ["r2", "r3"]) {
      expect(await poll(`greeting in ${id}`, async () => {
        const v = (await value(id, "greeting")) as { meta?: { text?: string } } | undefined;
        return v?.meta?.text;
      })).toBe("hello");
    }
  });

  it("lists every peer in /readyz, up once they talk, and stays ready when one is down", async () => {
    const peersOf = async (id: string) => ((await (await api(id, "/readyz")).json()) as { peers: Record<string, string> }).peers;
    expect(await poll("r1 sees its peers up", async () => {
      const peers = await peersOf("r1");
      return Object.values(peers).every((state) => state === "up") ? peers : undefined;
    })).toEqual({ r2: "up", r3: "up" });
  });

  it("converges concurrent writes to one document made in all three regions", async () => {
    await api("r1", "/v1/docs/shared", { method: "PUT", json: { kind: "automerge" } });
    // The counter does not exist yet: every region's first increment creates it, the same object everywhere.
    await poll("shared everywhere", async () => ((await Promise.all(ids.map((id) => value(id, "shared")))).every((v) => v !== undefined) ? true : undefined));
    const writes = ids.flatMap((id) => Array.from({ length: 5 }, (_, i) =>
      api(id, "/v1/docs/shared", { method: "PATCH", json: { ops: [{ op: "set", path: [`${id}-${i}`], value: i }, { op: "increment", path: ["count"], by: 1 }] } })));
    expect((await Promise.all(writes)).map((r) => r.status)).toEqual(Array(15).fill(200));
    let last: string[] = [];
    const converged = await poll("convergence", async () => {
      const values = (last = (await Promise.all(ids.map((id) => value(id, "shared")))).map((v) => JSON.stringify(v)));
      return values.every((v) => v === values[0]) && (JSON.parse(values[0]!) as { count?: number }).count === 15 ? JSON.parse(values[0]!) : undefined;
    }).catch((error: Error) => Promise.reject(new Error(`${error.message}: ${last.join(" | ")}`)));
    expect(Object.keys(converged as object)).toHaveLength(16);
  });

  const firstWrites = [
    { kind: "automerge", op: (tag: string) => ({ op: "push", path: ["items"], value: tag }), found: (v: any) => v?.items ?? [] },
    { kind: "automerge", op: (tag: string) => ({ op: "set", path: ["sub", tag], value: 1 }), found: (v: any) => Object.keys(v?.sub ?? {}) },
    { kind: "yjs", op: (tag: string) => ({ op: "set", path: ["meta", "sub", tag], value: 1 }), found: (v: any) => Object.keys(v?.meta?.sub ?? {}) },
    { kind: "yjs", op: () => ({ op: "increment", path: ["stats", "n"] }), found: (v: any) => Array(v?.stats?.n ?? 0).fill("+") },
    { kind: "automerge", op: () => ({ op: "increment", path: ["n"] }), found: (v: any) => Array(v?.n ?? 0).fill("+") },
  ] as const;
  it.each(firstWrites.map((c, i) => [i, c] as const))("keeps both regions' first writes into a new document created in both at once (case %i)", async (i, c) => {
    for (let trial = 0; trial < 4; trial++) {
      const doc = `fresh-${i}-${trial}`;
      const created = await Promise.all(["r1", "r2"].map((id) => api(id, `/v1/docs/${doc}`, { method: "PUT", json: { kind: c.kind } })));
      expect(created.map((r) => r.status).every((s) => s === 201 || s === 409)).toBe(true);
      const patched = await Promise.all(["r1", "r2"].map((id) => api(id, `/v1/docs/${doc}`, { method: "PATCH", json: { ops: [c.op(id)] } })));
      expect(patched.map((r) => r.status)).toEqual([200, 200]);
      const seen = await poll(`${doc} converged with both writes`, async () => {
        const values = await Promise.all(ids.map((id) => value(id, doc)));
        const texts = values.map((v) => JSON.stringify(v));
        return texts.every((t) => t === texts[0]) && c.found(values[0]).length === 2 ? c.found(values[0]) : undefined;
      }, 30_000);
      expect(seen).toHaveLength(2);
    }
  });

  it("catches up a region killed with SIGKILL and restarted, losing no acknowledged write", async () => {
    await api("r1", "/v1/docs/log", { method: "PUT", json: { kind: "yjs" } });
    await poll("log in r3", () => value("r3", "log"));
    await stop(cluster.procs.get("r3")!, "SIGKILL");
    const acked: string[] = [];
    for (let i = 0; i < 20; i++) {
      const id = i % 2 === 0 ? "r1" : "r2";
      const r = await api(id, "/v1/docs/log", { method: "PATCH", json: { ops: [{ op: "push", path: ["entries"], value: `w${i}` }] } });
      if (r.status === 200) acked.push(`w${i}`);
    }
    expect(acked).toHaveLength(20);
    // r1 stays ready while a peer is down, and says which one.
    await poll("r1 marks r3 down", async () => {
      const r = await api("r1", "/readyz");
      const body = (await r.json()) as { peers: Record<string, string> };
      return r.status === 200 && body.peers.r3 === "down" ? true : undefined;
    });
    await cluster.serve("r3");
    for (const id of ids) {
      const entries = await poll(`all writes in ${id}`, async () => {
        const v = (await value(id, "log")) as { entries?: string[] } | undefined;
        return v?.entries && v.entries.length === 20 ? v.entries : undefined;
      });
      expect([...entries].sort()).toEqual([...acked].sort());
    }
  });
});
