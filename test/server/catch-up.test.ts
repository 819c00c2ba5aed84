/**
 * A region new to its peers (an empty data directory joining a topology) is
 * not ready, and does not answer 404 for documents its peers hold, until it
 * has completed one anti-entropy round with a peer; after that it starts
 * ready, peers or not.
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { poll, startConcord, startProcessCluster, stop, waitReady, type ProcessCluster } from "./processes.ts";

let cluster: ProcessCluster;
beforeAll(async () => {
  cluster = await startProcessCluster(["a", "b"], "concord-catchup-");
});
afterAll(async () => cluster?.stop());

const readyz = async (id: string) => {
  const r = await cluster.api(id, "/readyz");
  return { status: r.status, body: (await r.json()) as { ready: boolean; reason?: string } };
};

describe("a region new to its peers", () => {
  it("is not ready and answers 503 with Retry-After for unknown ids until its first round with a peer", async () => {
    expect((await cluster.api("a", "/v1/docs/held", { method: "PUT", json: { kind: "yjs" } })).status).toBe(201);
    await poll("b has the document", () => cluster.value("b", "held"));

    // b's disk is replaced (keys kept), and a is down: b starts empty with nobody to catch up with.
    await stop(cluster.procs.get("b")!);
    await stop(cluster.procs.get("a")!);
    for (const name of ["store", "CAUGHT_UP", "tokens.json"]) await rm(join(cluster.dataDir("b"), name), { recursive: true, force: true });
    const b = startConcord(["serve", "--topology", cluster.topologyFile, "--region", "b", "--data", cluster.dataDir("b"), "--log-level", "warn", "--auth", "off"]);
    cluster.procs.set("b", b);
    const first = await poll("b answers /readyz", () => readyz("b").catch(() => undefined));
    expect(first.status).toBe(503);
    expect(first.body.reason).toMatch(/catching up/);
    const read = await cluster.api("b", "/v1/docs/held");
    expect(read.status).toBe(503);
    expect(read.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(((await read.json()) as { error: { code: string } }).error.code).toBe("unavailable");

    // a comes back: b completes a round, becomes ready, and serves what a holds; unknown ids are 404 again.
    await cluster.serve("a");
    await waitReady(cluster.urls.b!, b);
    expect(await cluster.value("b", "held")).toBeDefined();
    expect((await cluster.api("b", "/v1/docs/never-written")).status).toBe(404);
  });

  it("starts ready after a restart once it has caught up, even with its peers down", async () => {
    await stop(cluster.procs.get("a")!);
    await stop(cluster.procs.get("b")!);
    await cluster.serve("b"); // waits for /readyz 200
    expect((await readyz("b")).body.ready).toBe(true);
  });
});
