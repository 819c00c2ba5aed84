import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import type * as Y from "yjs";
import { openReplica } from "../../src/node.ts";
import { createMemoryDisk } from "../../src/storage/memory-store.ts";
import { openReplica as openOnStore } from "../../src/replica/replica.ts";
import { createSeededRandom } from "../../src/runtime/random.ts";
import { tempDir, testKey, yjsClient } from "../helpers/replicas.ts";

describe("durability", () => {
  it("finds everything acknowledged after a clean restart (LMDB)", async () => {
    const dir = await tempDir();
    try {
      let r = await openReplica({ dir: dir.path, masterKey: testKey() });
      await r.create("y", "yjs");
      await r.create("a", "automerge", { init: { n: [] } });
      const client = yjsClient(77);
      for (let i = 0; i < 50; i++) await r.update("y", client.insert(`${i},`));
      for (let i = 0; i < 20; i++) await r.change("a", (d: { n: number[] }) => void d.n.push(i));
      const y = await r.read("y");
      const a = await r.read("a");
      expect(a.value).toEqual({ n: Array.from({ length: 20 }, (_, i) => i) });
      await r.close();
      r = await openReplica({ dir: dir.path, masterKey: testKey() });
      expect(await r.read("y")).toEqual(y);
      expect(await r.read("a")).toEqual(a);
      await r.close();
    } finally {
      await dir.remove();
    }
  });

  it("keeps only durable writes across a simulated power cut (memory disk)", async () => {
    const disk = createMemoryDisk();
    const key = testKey();
    const random = createSeededRandom(3);
    let r = await openOnStore({ store: disk.open(), masterKey: key, random });
    await r.create("d", "yjs");
    const client = yjsClient(1);
    await r.update("d", client.insert("durable"));
    const inFlight = r.update("d", client.insert("+lost")).catch((e: unknown) => e);
    disk.crash();
    await Promise.race([inFlight, Promise.resolve()]);
    r = await openOnStore({ store: disk.open(), masterKey: key, random });
    expect((await r.read("d")).value).toEqual({ text: "durable" });
    await r.close();
  });

  it("opens cleanly after SIGKILL mid-storm with every acknowledged write present", async () => {
    const dir = await tempDir();
    const key = testKey(9);
    try {
      const fixture = fileURLToPath(new URL("./fixtures/write-storm.ts", import.meta.url));
      const child = spawn(process.execPath, ["--import", "tsx", fixture, dir.path, Buffer.from(key).toString("hex")], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      const acked = new Map<string, string[]>();
      let stderr = "";
      child.stderr.on("data", (chunk) => (stderr += chunk));
      await new Promise<void>((resolve, reject) => {
        let buffered = "";
        let count = 0;
        child.stdout.on("data", (chunk: Buffer) => {
          buffered += chunk.toString();
          const lines = buffered.split("\n");
          buffered = lines.pop()!;
          for (const line of lines) {
            const [tag, id, marker] = line.split(" ");
            if (tag !== "ack") continue;
            acked.set(id!, [...(acked.get(id!) ?? []), marker!]);
            // Kill only once the storm is well under way, mid-write.
            if (++count === 1500) {
              child.kill("SIGKILL");
              resolve();
            }
          }
        });
        child.on("exit", (code, signal) => (signal === "SIGKILL" ? resolve() : reject(new Error(`child exited ${code}: ${stderr}`))));
      });
      await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.on("exit", resolve)));
      const r = await openReplica({ dir: dir.path, masterKey: key });
      for (const [id, markers] of acked) {
        const doc = await r.read(id);
        const present = new Set((doc.value as { acks: string[] }).acks);
        const missing = markers.filter((m) => !present.has(m));
        expect(missing, `acked but missing in ${id}`).toEqual([]);
      }
      expect([...acked.values()].flat().length).toBeGreaterThanOrEqual(1500);
      // The store is still writable after the crash.
      await r.change("y0", (d: Y.Doc) => d.getArray("acks").push(["after"]));
      await r.close();
    } finally {
      await dir.remove();
    }
  });
});
