/**
 * Concord's IndexedDB database: opening it (creating its object stores on
 * first use), IndexedDB's request and transaction events as promises, and its
 * DOMExceptions as ConcordErrors. Browser-safe: the IndexedDB factory is the
 * page's (or an injected one, such as fake-indexeddb in Node).
 *
 * One database per app holds both the Store's entries and the device-key
 * record (src/storage/indexeddb-device-key.ts), so deleting the database
 * removes both together.
 */
import { ConcordError } from "../errors.ts";

/** The object store of the Store's entries: binary keys (unsigned byte order), Uint8Array values. */
export const entriesStoreName = "entries";
/** The object store of the device-key records (salt and parameters, or a wrapped key). */
export const deviceKeysStoreName = "device-keys";
/** The schema this build creates and reads. A database at a higher version was made by a newer build. */
export const schemaVersion = 1;

/** Where a database lives: its name, and the IndexedDB to find it in. */
export interface IndexedDbLocation {
  /** The IndexedDB database name, e.g. "my-app". One app's replica per name. */
  name: string;
  /** The IndexedDB factory. Default: `globalThis.indexedDB` (a page's, a worker's). */
  indexedDB?: IDBFactory | undefined;
}

/** Checks a location and finds its factory. ConcordError "invalid_argument" or "unavailable" (no IndexedDB here). */
export function resolveFactory(location: IndexedDbLocation): IDBFactory {
  if (typeof location?.name !== "string" || location.name.length === 0) {
    throw new ConcordError("invalid_argument", "an IndexedDB store needs a database name");
  }
  const factory = location.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (factory === undefined || factory === null) {
    throw new ConcordError("unavailable", "IndexedDB is not available here (pass `indexedDB`, e.g. fake-indexeddb in Node)");
  }
  return factory;
}

/**
 * Opens (creating if needed) the database `name` at `schemaVersion`.
 * Rejects with ConcordError "unavailable" when the open is blocked (another
 * page holds the database open at an older version and does not let go) or
 * fails, "unsupported" when the database was made by a newer build,
 * "storage_full" when there is no room to create it. A connection that
 * arrives after a blocked open was refused is closed at once.
 */
export function openDatabase(factory: IDBFactory, name: string): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    let request: IDBOpenDBRequest;
    try {
      request = factory.open(name, schemaVersion);
    } catch (cause) {
      reject(indexedDbError(`opening the IndexedDB database "${name}"`, cause));
      return;
    }
    let refused = false;
    request.onupgradeneeded = () => {
      const db = request.result;
      // Version 1 is the only schema so far; later versions add their steps here, keyed by oldVersion.
      if (!db.objectStoreNames.contains(entriesStoreName)) db.createObjectStore(entriesStoreName);
      if (!db.objectStoreNames.contains(deviceKeysStoreName)) db.createObjectStore(deviceKeysStoreName);
    };
    request.onblocked = () => {
      refused = true;
      reject(
        new ConcordError(
          "unavailable",
          `the IndexedDB database "${name}" is blocked: another page holds it open at an older version; close that page`,
          { details: { reason: "blocked" } },
        ),
      );
    };
    request.onsuccess = () => {
      const db = request.result;
      if (refused) db.close();
      else resolve(db);
    };
    request.onerror = () => {
      reject(indexedDbError(`opening the IndexedDB database "${name}"`, request.error));
    };
  });
}

/** The result of one request, or its error as a ConcordError (see indexedDbError). */
export function requestResult<T>(request: IDBRequest<T>, action: string): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(indexedDbError(action, request.error));
  });
}

/**
 * Settles when `tx` does: resolves on `complete` (for a readwrite transaction
 * opened with durability "strict", once the data is flushed), rejects with a
 * ConcordError on `abort`. Attach it before the transaction can finish (in
 * the same task that created it).
 */
export function transactionDone(tx: IDBTransaction, action: string): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    // A failed request's error event bubbles to the transaction and, never cancelled here (that
    // would let the rest of a batch commit), aborts it: the abort reports the request's error.
    tx.onabort = () => reject(indexedDbError(action, tx.error ?? new Error("the transaction was aborted")));
  });
}

/**
 * An IndexedDB failure as a ConcordError: "storage_full" for
 * QuotaExceededError (the origin's quota or the disk), "unsupported" for
 * VersionError (a newer build's database), "unavailable" for anything else
 * (the connection closed under us, the medium failed). `action` names what
 * was being done, e.g. `writing to the IndexedDB store "app"`.
 */
export function indexedDbError(action: string, cause: unknown): ConcordError {
  if (cause instanceof ConcordError) return cause;
  const name = (cause as { name?: unknown } | null)?.name;
  const text = cause instanceof Error ? cause.message : String(cause);
  if (name === "QuotaExceededError") {
    return new ConcordError("storage_full", `${action} failed: no room (${text}); nothing was written`, {
      cause,
      details: { reason: "quota" },
    });
  }
  if (name === "VersionError") {
    return new ConcordError("unsupported", `${action} failed: the database was made by a newer version (${text})`, { cause });
  }
  return new ConcordError("unavailable", `${action} failed: ${typeof name === "string" ? `${name}: ` : ""}${text}`, { cause });
}
