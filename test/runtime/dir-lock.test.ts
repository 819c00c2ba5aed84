import { spawn } from "node:child_process";
import { readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { lockDataDir, lockFile } from "../../src/runtime/dir-lock.ts";
import { tempDir } from "../helpers/replicas.ts";

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.once("exit", resolve));
  return child.pid!;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
async function dir(): Promise<string> {
  const d = await tempDir("concord-lock-");
  cleanups.push(d.remove);
  return d.path;
}

describe("data directory lock", () => {
  it("refuses a second lock on a held directory, naming the holder's pid and the lock file", async () => {
    const path = await dir();
    const lock = await lockDataDir(path);
    const refused = await lockDataDir(path).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "locked", details: { pid: process.pid, lockFile: lockFile(path) } });
    expect((refused as Error).message).toContain(`process ${process.pid}`);
    expect((refused as Error).message).toContain(lockFile(path));
    await lock.release();
  });

  it("refuses the same directory reached through a symlink", async () => {
    const path = await dir();
    const link = join(await dir(), "link");
    await symlink(path, link);
    const lock = await lockDataDir(path);
    expect(await lockDataDir(link).catch((e: unknown) => e)).toMatchObject({ code: "locked", details: { pid: process.pid } });
    await lock.release();
  });

  it("is free again once released, and the lock file is gone", async () => {
    const path = await dir();
    await (await lockDataDir(path)).release();
    expect(await readdir(path)).toEqual([]);
    const again = await lockDataDir(path);
    await again.release();
    await again.release(); // idempotent
  });

  it("takes over a stale lock whose process is gone", async () => {
    const path = await dir();
    const pid = await deadPid();
    await writeFile(lockFile(path), JSON.stringify({ pid, host: hostname(), startedAt: "2020-01-01T00:00:00.000Z" }));
    const lock = await lockDataDir(path);
    expect(JSON.parse(await readFile(lockFile(path), "utf8"))).toMatchObject({ pid: process.pid });
    await lock.release();
  });

  it("takes over a lock left by an earlier boot with this very pid (a container's pid 1), or a torn one", async () => {
    const path = await dir();
    await writeFile(lockFile(path), JSON.stringify({ pid: process.pid, host: hostname(), startedAt: "2020-01-01T00:00:00.000Z" }));
    await (await lockDataDir(path)).release();
    await writeFile(lockFile(path), '{"pid": 12');
    await (await lockDataDir(path)).release();
    expect(await readdir(path)).toEqual([]);
  });

  it("counts a lock held on another host as held: it cannot tell that process is gone", async () => {
    const path = await dir();
    await writeFile(lockFile(path), JSON.stringify({ pid: 4242, host: `not-${hostname()}`, startedAt: "2020-01-01T00:00:00.000Z" }));
    const refused = await lockDataDir(path).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "locked", details: { pid: 4242 } });
    expect((refused as Error).message).toMatch(/delete the lock file if that host no longer runs it/);
  });

  it("does not remove a lock that another process took after ours was broken", async () => {
    const path = await dir();
    const lock = await lockDataDir(path);
    const other = JSON.stringify({ pid: 4242, host: `not-${hostname()}`, startedAt: "2020-01-01T00:00:00.000Z" });
    await writeFile(join(path, "LOCK"), other);
    await lock.release();
    expect(await readFile(lockFile(path), "utf8")).toBe(other);
  });
});
