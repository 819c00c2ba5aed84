import { spawn } from "node:child_process";
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, startConcord, startProcessCluster, stop, type ProcessCluster } from "./processes.ts";

const fixture = fileURLToPath(new URL("./fixtures/open-data-dir.ts", import.meta.url));

/** Runs the embedded openReplica({ dir }) in a child process; resolves with its exit code and output. */
function openInChild(dir: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", fixture, dir], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (c: Buffer) => (out += c.toString()));
  child.stderr.on("data", (c: Buffer) => (out += c.toString()));
  return new Promise((resolve) => child.once("exit", (code) => resolve({ code, out })));
}

describe("one process per data directory", () => {
  let cluster: ProcessCluster;
  beforeAll(async () => {
    cluster = await startProcessCluster(["solo"], "concord-lock-");
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("refuses a second concord serve and an embedded openReplica on a live directory, naming the holder's pid", async () => {
    const holder = cluster.procs.get("solo")!.child.pid!;
    const lockFile = join(cluster.dataDir("solo"), "LOCK");
    const second = startConcord(["serve", "--topology", cluster.topologyFile, "--region", "solo", "--data", cluster.dataDir("solo"), "--port", String(await freePort()), "--auth", "off"]);
    cluster.procs.set("second", second); // killed by cluster.stop() should it ever start
    expect(await second.exited).not.toBe(0);
    expect(second.output()).toContain(`process ${holder}`);
    expect(second.output()).toContain(lockFile);
    expect(second.output()).toContain("[locked]");

    const embedded = await openInChild(cluster.dataDir("solo"));
    expect(embedded.code).toBe(1);
    expect(embedded.out).toContain(`locked: the data directory is in use by process ${holder}`);
    expect(embedded.out).toContain(lockFile);
    // The region still serves.
    expect((await cluster.api("solo", "/readyz")).status).toBe(200);
  });

  it("starts again after the holder was killed with SIGKILL, keeping its data", async () => {
    expect((await cluster.api("solo", "/v1/docs/kept", { method: "PUT", json: { kind: "yjs" } })).status).toBe(201);
    await stop(cluster.procs.get("solo")!, "SIGKILL");
    await stat(join(cluster.dataDir("solo"), "LOCK")); // left behind: stale now
    const restarted = await cluster.serve("solo");
    expect(await cluster.value("solo", "kept")).toBeDefined();
    await stop(restarted);
    // A clean stop releases the lock: the embedded library opens the directory.
    expect((await openInChild(cluster.dataDir("solo"))).out).toBe("opened\n");
  });
});
