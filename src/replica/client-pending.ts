/**
 * Client deltas that arrive before their predecessors (a writer pipelining
 * several updates, over HTTP or in process): instead of being refused, a
 * delta the engine turns down only for "missing_dependencies" waits here,
 * in memory and never persisted, bounded in bytes and in time, as remote
 * deltas wait in src/gossip/remote-applier.ts. It is tried again whenever
 * its document changes (a write applied here, or any durable change), and
 * its caller is answered once it applies and is durable, like any write.
 * One whose predecessors do not arrive within its wait gets
 * "invalid_update" (reason "missing_dependencies") and changed nothing.
 */
import { ConcordError, isConcordError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ChangeFeed } from "./change-feed.ts";

/** Whether `error` refuses a delta only because what it builds on is not here yet. */
export function lacksPredecessors(error: unknown): boolean {
  return isConcordError(error, "invalid_update") && error.details.reason === "missing_dependencies" && error.details.damaged !== true;
}

interface Parked<T> {
  bytes: number;
  /** Applies the delta (throws the engine's refusal); what the caller is then answered with. */
  apply: () => Promise<T>;
  settle: (error: unknown, value?: T) => void;
  /** False while the delta certainly still lacks what it builds on: not worth an attempt. */
  worthTrying: () => boolean;
  /** An attempt is running: a timeout then waits for its outcome (it may have applied the delta). */
  attempting: boolean;
  expired: ConcordError | undefined;
}

export interface ClientPendingOptions {
  clock: Clock;
  feed: ChangeFeed;
  /** Bytes of waiting deltas across all documents; beyond it a newcomer is refused at once. */
  maxBytes: number;
}

export class ClientPending {
  private readonly waiting = new Map<string, Array<Parked<unknown>>>();
  private readonly running = new Map<string, boolean>(); // id → another pass is due
  private readonly unsubscribe = new Map<string, () => void>();
  private bytes = 0;
  private closedError: ConcordError | undefined;

  constructor(private readonly options: ClientPendingOptions) {}

  /** Waiting deltas and their bytes (for stats). */
  get stats(): { deltas: number; bytes: number } {
    let deltas = 0;
    for (const list of this.waiting.values()) deltas += list.length;
    return { deltas, bytes: this.bytes };
  }

  /**
   * Parks a delta refused with `refusal` (lacksPredecessors) until `apply()`
   * succeeds, rejects with another error, or `timeoutMs` passes. It is tried
   * only when `worthTrying()` (a cheap pre-check) says it may apply.
   */
  park<T>(id: string, bytes: number, refusal: ConcordError, timeoutMs: number, apply: () => Promise<T>, worthTrying: () => boolean = () => true): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    if (this.bytes + bytes > this.options.maxBytes) {
      return Promise.reject(new ConcordError("invalid_update", `${refusal.message}; too many deltas already wait for their predecessors`, {
        cause: refusal, details: { reason: "missing_dependencies", retryAfterMs: 1000 },
      }));
    }
    return new Promise<T>((resolve, reject) => {
      const item: Parked<unknown> = {
        bytes,
        apply,
        worthTrying,
        attempting: false,
        expired: undefined,
        settle: (error, value) => {
          if (!this.remove(id, item)) return;
          cancel();
          if (error === undefined) resolve(value as T);
          else reject(error);
        },
      };
      const cancel = this.options.clock.timer(timeoutMs, () => {
        item.expired = new ConcordError(
          "invalid_update",
          `a delta of "${id}" waited ${timeoutMs} ms for the updates it builds on, which never arrived: ${refusal.message}`,
          { cause: refusal, details: { reason: "missing_dependencies" } },
        );
        if (!item.attempting) item.settle(item.expired);
      });
      let list = this.waiting.get(id);
      if (!list) {
        this.waiting.set(id, (list = []));
        this.unsubscribe.set(id, this.options.feed.subscribe(id, () => this.kick(id)));
      }
      list.push(item);
      this.bytes += bytes;
      // Its predecessor may have applied between the refusal and now.
      this.kick(id);
    });
  }

  /** Tries the deltas waiting on `id` again (its document changed); passes run one at a time per id. */
  kick(id: string): void {
    if (!this.waiting.has(id)) return;
    if (this.running.has(id)) {
      this.running.set(id, true);
      return;
    }
    this.running.set(id, false);
    void this.pass(id);
  }

  /** Refuses every waiting delta: the replica is closing. */
  close(error: ConcordError): void {
    this.closedError = error;
    for (const list of [...this.waiting.values()]) for (const item of [...list]) item.settle(error);
  }

  private async pass(id: string): Promise<void> {
    for (let progress = true; progress || this.running.get(id); ) {
      progress = false;
      this.running.set(id, false);
      for (const item of [...(this.waiting.get(id) ?? [])]) {
        if (!this.waiting.get(id)?.includes(item)) continue; // settled meanwhile (timed out, closed)
        if (!item.worthTrying()) continue;
        item.attempting = true;
        try {
          const value = await item.apply();
          item.attempting = false;
          item.settle(undefined, value);
          progress = true;
        } catch (error) {
          item.attempting = false;
          if (!lacksPredecessors(error)) item.settle(error);
          else if (item.expired) item.settle(item.expired);
        }
      }
    }
    this.running.delete(id);
  }

  private remove(id: string, item: Parked<unknown>): boolean {
    const list = this.waiting.get(id);
    const at = list ? list.indexOf(item) : -1;
    if (at < 0) return false;
    list!.splice(at, 1);
    this.bytes -= item.bytes;
    if (list!.length === 0) {
      this.waiting.delete(id);
      this.unsubscribe.get(id)?.();
      this.unsubscribe.delete(id);
    }
    return true;
  }
}
