/** The sync client's status, as an app shows it to its user. */

export type SyncState = "connecting" | "catching-up" | "synced" | "offline" | "denied" | "closed";

export interface SyncStatus {
  state: SyncState;
  /** The region connected to or being tried (a base URL), if any. */
  region: string | undefined;
  /** Whether that region is the home region (the first of `regions`). */
  home: boolean;
  /** Local writes the region has not acknowledged yet (they are durable here already). */
  pendingWrites: number;
}

export interface SyncEvents {
  /** Opening a socket to `region`. */
  connecting: { region: string };
  /** The catch-up round with `region` is done: both sides hold the same; deltas now flow as they happen. */
  synced: { region: string; home: boolean };
  /** The socket closed or could not open; the client will retry (see `denied` for when it will not). */
  offline: { region: string; code: number; reason: string };
  /** Synced with a region other than home, because home was unreachable; the client returns home when it is back. */
  "failed-over": { from: string; to: string };
  /** The count of unacknowledged local writes changed. */
  pending: { pendingWrites: number };
  /** The region refused the token (unknown, revoked: 4401) or its scope (4403): the client stops until the app acts. */
  denied: { region: string; code: number; reason: string };
  /** Any change of `status`. */
  status: SyncStatus;
}

export type SyncEventName = keyof SyncEvents;

/** A tiny typed emitter: a throwing listener is the app's bug, never the sync loop's. */
export function createEmitter() {
  const listeners = new Map<SyncEventName, Set<(event: never) => void>>();
  return {
    on<E extends SyncEventName>(event: E, fn: (e: SyncEvents[E]) => void): () => void {
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(fn as (event: never) => void);
      return () => void set.delete(fn as (event: never) => void);
    },
    emit<E extends SyncEventName>(event: E, value: SyncEvents[E]): void {
      for (const fn of [...(listeners.get(event) ?? [])]) {
        try {
          (fn as (e: SyncEvents[E]) => void)(value);
        } catch {
          // The app's listener failed; the sync goes on.
        }
      }
    },
  };
}
