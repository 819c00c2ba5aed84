/**
 * Documents that keep crashing their engine. An engine panic (an Automerge
 * wasm trap) is survivable: the module is rebuilt and the region answers
 * 503 on /readyz meanwhile (src/doc/automerge-health.ts). But a document
 * whose stored state traps the engine on every load would make each request
 * for it take the whole engine down again, and /readyz flap with it. So the
 * traps are counted per document, and after `maxTraps` that were this
 * document's own (a call on it that trapped, not one that met an engine
 * already dead), it is quarantined: refused with ConcordError
 * "quarantined" before anything touches the engine.
 *
 * In memory, per replica: a restart (and so `concord repair`, which runs
 * with the region stopped) starts with none, and Replica.releaseQuarantine
 * lets an operator clear it in a running region once the cause is fixed.
 * Counts are not reset by a load that succeeds: a document may load and
 * then trap on every read.
 */
import { ConcordError, isConcordError } from "../errors.ts";

/** True when `error` says the call on this document itself trapped the engine (see automerge-guard.ts). */
export function trappedHere(error: unknown): boolean {
  return isConcordError(error, "unavailable") && error.details["trapped"] === true;
}

export class DocQuarantine {
  private readonly traps = new Map<string, number>();
  private readonly held = new Set<string>();
  /** Documents quarantined since the replica opened (a counter: it never goes down). */
  quarantinedTotal = 0;
  private readonly listeners = new Set<(id: string) => void>();

  /** `maxTraps` traps quarantine a document; `maxTracked` bounds the ids counted (oldest dropped). */
  constructor(private readonly maxTraps: number, private readonly maxTracked = 10_000) {}

  /** Throws "quarantined" when `id` is quarantined. */
  check(id: string): void {
    if (!this.held.has(id)) return;
    throw new ConcordError("quarantined", `document "${id}" crashed the engine ${this.maxTraps} times and is quarantined: an operator must repair or release it`, {
      details: { traps: this.maxTraps },
    });
  }

  /** Counts `error` against `id` when it is a trap of its own; true when that quarantined it. */
  noteFailure(id: string, error: unknown): boolean {
    if (!trappedHere(error) || this.held.has(id)) return false;
    const count = (this.traps.get(id) ?? 0) + 1;
    this.traps.delete(id); // re-inserted last: the Map's order is the age order maxTracked drops by
    if (count < this.maxTraps) {
      this.traps.set(id, count);
      if (this.traps.size > this.maxTracked) this.traps.delete(this.traps.keys().next().value!);
      return false;
    }
    this.held.add(id);
    this.quarantinedTotal++;
    for (const listener of [...this.listeners]) {
      try {
        listener(id);
      } catch {
        // A listener's failure (a logger's) must not turn into the request's error.
      }
    }
    return true;
  }

  /** Calls `listener` with each newly quarantined id; returns the unsubscribe function. */
  onQuarantine(listener: (id: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Releases `id` (or every document); true when something was released. */
  release(id?: string): boolean {
    if (id === undefined) {
      const any = this.held.size > 0;
      this.held.clear();
      this.traps.clear();
      return any;
    }
    this.traps.delete(id);
    return this.held.delete(id);
  }

  /** The quarantined ids, oldest first. */
  list(): string[] {
    return [...this.held];
  }
}
