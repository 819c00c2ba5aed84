/**
 * One writer per IndexedDB store, the browser's counterpart of a data
 * directory's LOCK file: two tabs of one app opening the same store would
 * each number a document's records from what they last read, and the second
 * writer's records would break the first one's chain. A Web Lock per
 * database name (scoped to the origin, as the database is) is held for as
 * long as the store is open, and released with it or when the tab goes away.
 */
import { ConcordError } from "../errors.ts";

/** Releases a held lock; resolves once it is free for others. Idempotent. */
export type ReleaseLock = () => Promise<void>;

interface WebLocks {
  request(name: string, options: { ifAvailable: boolean }, callback: (lock: unknown) => Promise<void> | void): Promise<unknown>;
}

/** The Web Lock's name for the store `name`. */
export function storeLockName(name: string): string {
  return `concord-store:${name}`;
}

/**
 * Takes the exclusive lock of the store `name` without waiting. Resolves to
 * its release, or to undefined where the Web Locks API does not exist (Node
 * with fake-indexeddb; every browser with IndexedDB binary keys has it).
 * Rejects with ConcordError "locked" when another page (or another store in
 * this page) holds it.
 */
export function lockStore(name: string): Promise<ReleaseLock | undefined> {
  const locks = (globalThis as { navigator?: { locks?: WebLocks } }).navigator?.locks;
  if (locks === undefined) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    let letGo!: () => void;
    const held = new Promise<void>((r) => (letGo = r));
    // request() settles once the lock is released, not when the callback's promise does: waiting for
    // it makes close() mean "another store may open now", not "soon".
    const released: Promise<unknown> = locks
      .request(storeLockName(name), { ifAvailable: true }, (lock) => {
        if (lock === null) {
          reject(
            new ConcordError("locked", `the IndexedDB store "${name}" is already open (in another tab or window of this app, or not yet closed in this page); close it there first`, {
              details: { store: name },
            }),
          );
          return;
        }
        resolve(async () => {
          letGo();
          await released;
        });
        return held;
      })
      .catch((cause: unknown) => reject(new ConcordError("unavailable", `cannot take the lock of the IndexedDB store "${name}"`, { cause })));
  });
}
