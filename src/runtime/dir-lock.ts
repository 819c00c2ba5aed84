/**
 * One process owns a data directory: an exclusive lock file, DIR/LOCK, held
 * for the life of the process. A second `concord serve` (or an embedded
 * `openReplica({ dir })`) on a live directory would bump the boot epoch under
 * the first one's feet and write to the same store, so it is refused instead.
 *
 * Node has no flock, and the npm packages that add it are native addons, so
 * the lock is a file created with O_EXCL holding the owner's pid, host and
 * process start time. A lock whose owner is gone (kill -9, a power cut) is
 * stale and taken over: the owner is gone when no process has its pid, or the
 * process with that pid started at another time (the pid was reused), or the
 * pid is our own (a container restarted: every boot is pid 1).
 */
import { hostname } from "node:os";
import { link, mkdir, open, readFile, realpath, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import { ConcordError } from "../errors.ts";

export interface DirLock {
  /** The lock file, DIR/LOCK. */
  readonly path: string;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): Promise<void>;
}

/** What a lock file holds. */
interface LockOwner {
  pid: number;
  host: string;
  /** Kernel start time of the process (Linux /proc), to tell a reused pid. */
  startTicks?: string;
  startedAt: string;
}

export const lockFileName = "LOCK";

/** Lock files this process holds: a lock file naming our own pid is ours only if it is in here. */
const heldHere = new Set<string>();

export function lockFile(dataDir: string): string {
  return join(dataDir, lockFileName);
}

/**
 * Takes the lock on `dataDir` (created if missing). Throws ConcordError
 * "locked" naming the owner's pid and the lock file when a live process holds
 * it, "unavailable" when the directory cannot be written.
 */
export async function lockDataDir(dataDir: string): Promise<DirLock> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 }).catch((cause: Error) => {
    throw new ConcordError("unavailable", `cannot create ${dataDir}: ${cause.message}`, { cause });
  });
  const path = lockFile(dataDir);
  // By real path: the same directory reached through a symlink is the same lock.
  const held = lockFile(await realpath(dataDir));
  if (heldHere.has(held)) throw lockedError(path, await readOwnerOrUndefined(path));
  const me = await currentOwner();
  const text = JSON.stringify(me) + "\n";
  // Two rounds at most: the second follows taking a stale lock away.
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await createExclusive(path, text)) return heldLock(path, held, text);
    const holder = await readOwner(path);
    if (holder === "gone") continue; // released between our create and our read
    if (holder !== "unreadable" && (await isAlive(holder))) throw lockedError(path, holder);
    await breakStaleLock(path, holder);
  }
  throw lockedError(path, await readOwnerOrUndefined(path));
}

async function readOwnerOrUndefined(path: string): Promise<LockOwner | undefined> {
  const holder = await readOwner(path);
  return typeof holder === "object" ? holder : undefined;
}

function lockedError(path: string, holder: LockOwner | undefined): ConcordError {
  const who = holder ? `process ${holder.pid} on ${holder.host} (since ${holder.startedAt})` : "another process";
  // On this host a dead holder is detected; from another host (a shared volume) only the operator can tell.
  const remote = holder !== undefined && holder.host !== hostname();
  const way = remote ? `stop it, or delete the lock file if that host no longer runs it` : "stop it first";
  return new ConcordError(
    "locked",
    `the data directory is in use by ${who}: lock file ${path}. One process owns a data directory: ${way}`,
    { details: { lockFile: path, ...(holder ? { pid: holder.pid, host: holder.host } : {}) } },
  );
}

function heldLock(path: string, held: string, text: string): DirLock {
  let released = false;
  heldHere.add(held);
  return {
    path,
    async release() {
      if (released) return;
      released = true;
      heldHere.delete(held);
      // Only our own: never remove a lock another process took after ours was broken as stale.
      const now = await readFile(path, "utf8").catch(() => undefined);
      if (now === text) await unlink(path).catch(() => {});
    },
  };
}

async function createExclusive(path: string, text: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, "wx", 0o600);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new ConcordError("unavailable", `cannot create the lock file ${path}: ${(cause as Error).message}`, { cause });
  }
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

async function readOwner(path: string): Promise<LockOwner | "gone" | "unreadable"> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    return "unreadable";
  }
  try {
    const owner = JSON.parse(text) as Partial<LockOwner>;
    if (typeof owner.pid === "number" && typeof owner.host === "string" && typeof owner.startedAt === "string") return owner as LockOwner;
  } catch {
    // A torn write (a crash while creating the lock): nobody can own that.
  }
  return "unreadable";
}

/** Whether the owner of a lock is still running. On another host we cannot tell, so it counts as alive. */
async function isAlive(owner: LockOwner): Promise<boolean> {
  if (owner.host !== hostname()) return true;
  // Our own pid, and not held here (checked first): an earlier boot with this pid wrote it (a container's pid 1).
  if (owner.pid === process.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (cause) {
    // EPERM: the process exists and belongs to someone else.
    if ((cause as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const ticks = await startTicks(owner.pid);
  return owner.startTicks === undefined || ticks === undefined || ticks === owner.startTicks;
}

/**
 * Moves a stale lock aside, then checks that what moved is what was judged
 * stale: if another process broke it and locked first, that live lock is put
 * back (link fails rather than overwrite a third one) and the caller retries.
 */
async function breakStaleLock(path: string, judged: LockOwner | "unreadable"): Promise<void> {
  const aside = `${path}.stale-${process.pid}`;
  try {
    await rename(path, aside);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new ConcordError("unavailable", `cannot remove the stale lock file ${path}: ${(cause as Error).message}`, { cause });
  }
  const moved = await readOwner(aside);
  const same = judged === "unreadable" ? moved === "unreadable" : typeof moved === "object" && moved.pid === judged.pid && moved.startedAt === judged.startedAt;
  if (!same) await link(aside, path).catch(() => {});
  await unlink(aside).catch(() => {});
}

async function currentOwner(): Promise<LockOwner> {
  const ticks = await startTicks(process.pid);
  return { pid: process.pid, host: hostname(), ...(ticks ? { startTicks: ticks } : {}), startedAt: new Date().toISOString() };
}

/** Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot. Undefined off Linux. */
async function startTicks(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
  if (!stat) return undefined;
  // The command name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return fields[19];
}
