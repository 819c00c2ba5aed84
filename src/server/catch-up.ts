/**
 * Whether a region must catch up with a peer before it serves readers, and
 * the loop that does it. A region's store can be behind its peers in a way
 * the region itself cannot see:
 *
 * - new, joining a topology with an empty store: every document its peers
 *   hold is missing;
 * - restored from a backup (DIR/RESTORED, written by the restore): it may
 *   hold documents deleted since the backup was made.
 *
 * So a region is caught up only once it has completed one anti-entropy round
 * with a peer, and that fact is kept on disk: DIR/CAUGHT_UP. Until then the
 * region is not ready (/readyz 503, reason "catching up") and a document it
 * does not hold answers 503 `unavailable` with Retry-After, not 404. A marker
 * of the positive fact, not of its absence, because stores are created in
 * several places (`keys init`, the embedded library, a restore) and a crash
 * anywhere before the first round must leave the region waiting. A region
 * without peers is caught up at once. Data directories from before the marker
 * existed need one round after the upgrade.
 */
import { rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Clock } from "../runtime/clock.ts";
import { restoredMarker, syncDirectory } from "./region-backup.ts";

export type CatchUpReason = "restored" | "joining";

/** Present in a data directory once its region completed an anti-entropy round with a peer. */
export function caughtUpMarker(dataDir: string): string {
  return join(dataDir, "CAUGHT_UP");
}

const fileExists = (path: string) => stat(path).then(() => true, () => false);

/**
 * Why the region in `dataDir` must catch up before serving, or undefined
 * when it need not. `storeCreated`: the store did not exist before this
 * start (wiped, replaced, a new PostgreSQL schema); such a region starts
 * over, marker or not.
 */
export async function catchUpReason(dataDir: string, storeCreated: boolean): Promise<CatchUpReason | undefined> {
  if (storeCreated) await rm(caughtUpMarker(dataDir), { force: true });
  if (await fileExists(restoredMarker(dataDir))) return "restored";
  return (await fileExists(caughtUpMarker(dataDir))) ? undefined : "joining";
}

/** The /readyz reason for a region catching up. */
export function catchUpMessage(reason: CatchUpReason): string {
  return reason === "restored"
    ? "restored from a backup: catching up with a peer (anti-entropy) before serving"
    : "new to its peers: catching up with a peer (anti-entropy) before serving";
}

/** Marks the region as caught up (durably): it starts ready from now on. */
export async function markCaughtUp(dataDir: string): Promise<void> {
  await writeFile(caughtUpMarker(dataDir), "completed an anti-entropy round with a peer\n");
  await rm(restoredMarker(dataDir), { force: true });
  await syncDirectory(dataDir);
}

export interface CatchUpLoop {
  peers: readonly string[];
  /** One anti-entropy round with `peer`; rejects when it did not complete. */
  round(peer: string): Promise<unknown>;
  clock: Clock;
  /** Aborted when the region stops: the loop ends at once, leaving no timer behind. */
  signal: AbortSignal;
  /** Longest pause between two passes over the peers, ms. Default 10000. */
  maxBackoffMs?: number;
}

/**
 * Tries each peer in turn until one round completes; between passes it
 * backs off (250 ms doubling, at most `maxBackoffMs`). Resolves true once a
 * round completed, false if stopped first.
 */
export async function catchUpWithAPeer(loop: CatchUpLoop): Promise<boolean> {
  for (let attempt = 0; !loop.signal.aborted; attempt++) {
    for (const peer of loop.peers) {
      if (loop.signal.aborted) return false;
      try {
        await loop.round(peer);
        return true;
      } catch {
        // That peer is down or cut off: try the next one.
      }
    }
    await pause(loop, Math.min(250 * 2 ** Math.min(attempt, 16), loop.maxBackoffMs ?? 10_000));
  }
  return false;
}

function pause(loop: CatchUpLoop, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      cancel();
      loop.signal.removeEventListener("abort", done);
      resolve();
    };
    const cancel = loop.clock.timer(ms, done);
    loop.signal.addEventListener("abort", done, { once: true });
  });
}
