/**
 * Who hears about durable changes: per-document subscribers, whole-replica
 * subscribers, and observers (replication). A throwing listener is counted,
 * never allowed to fail the write that triggered it.
 *
 * Any of them may instead ask to hear of a change as soon as it is applied
 * here, before it is durable (`when: "applied"`): sockets relaying edits to
 * other editors, and gossip pushing a write to the other regions, need not
 * wait for this region's disk. Each change reaches such a listener once: at
 * its apply when the write path announced it then (emitApplied), else with
 * the durable event (creations, deletions).
 */
import type { Clock } from "../runtime/clock.ts";
import type { ChangeListener, DocChange, ReplicaEvent } from "./types.ts";

type ChangeEvent = Extract<ReplicaEvent, { type: "change" }>;

/** When a subscriber hears of a change: once durable (the default), or as soon as it is applied here. */
export type ChangeMoment = "durable" | "applied";

export class ChangeFeed {
  private readonly byDoc = new Map<string, Set<ChangeListener>>();
  private readonly appliedByDoc = new Map<string, Set<ChangeListener>>();
  /** Deltas already announced at their apply: their durable event does not reach "applied" listeners again. */
  private readonly announcedEarly = new WeakSet<Uint8Array>();
  private readonly all = new Set<ChangeListener>();
  private readonly appliedAll = new Set<ChangeListener>();
  private readonly observers = new Set<(event: ReplicaEvent) => void>();
  private readonly appliedObservers = new Set<(event: ReplicaEvent) => void>();
  listenerErrors = 0;

  subscribe(id: string, listener: ChangeListener, when: ChangeMoment = "durable"): () => void {
    const byDoc = when === "applied" ? this.appliedByDoc : this.byDoc;
    let set = byDoc.get(id);
    if (!set) byDoc.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0 && byDoc.get(id) === set) byDoc.delete(id);
    };
  }

  /**
   * A change of `id` was applied to the live document and is on its way to disk: tells the "applied" listeners
   * now. The durable emit() that follows must carry the same `delta` object (and the same localSeq).
   */
  emitApplied(id: string, describe: () => ChangeEvent): void {
    const listeners = this.appliedByDoc.get(id);
    if (!listeners && this.appliedAll.size === 0 && this.appliedObservers.size === 0) return; // nobody listens: not even described
    const event = describe();
    this.announcedEarly.add(event.delta);
    this.tell(listeners, this.appliedAll, this.appliedObservers, event);
  }

  subscribeAll(listener: ChangeListener, when: ChangeMoment = "durable"): () => void {
    const all = when === "applied" ? this.appliedAll : this.all;
    all.add(listener);
    return () => void all.delete(listener);
  }

  observe(observer: (event: ReplicaEvent) => void, when: ChangeMoment = "durable"): () => void {
    const observers = when === "applied" ? this.appliedObservers : this.observers;
    observers.add(observer);
    return () => void observers.delete(observer);
  }

  emit(event: ReplicaEvent): void {
    const id = event.id;
    this.tell(this.byDoc.get(id), this.all, this.observers, event);
    if (event.type === "change" && this.announcedEarly.has(event.delta)) return; // "applied" listeners heard it then
    this.tell(this.appliedByDoc.get(id), this.appliedAll, this.appliedObservers, event);
  }

  /** Calls one moment's listeners (per document, all documents; a change only) and observers. */
  private tell(
    byDoc: Set<ChangeListener> | undefined, all: Set<ChangeListener>, observers: Set<(event: ReplicaEvent) => void>, event: ReplicaEvent,
  ): void {
    if (event.type === "change") {
      const change: DocChange = { id: event.id, kind: event.kind, delta: event.delta, version: event.version, origin: event.origin };
      byDoc?.forEach((listener) => this.call(listener, change));
      all.forEach((listener) => this.call(listener, change));
    }
    observers.forEach((observer) => this.call(observer, event));
  }

  /**
   * Resolves with `check()`'s first defined result, checking now and after each
   * change of `id`; rejects with `onTimeout()` after `timeoutMs`.
   */
  waitFor<T>(clock: Clock, id: string, check: () => Promise<T | undefined>, timeoutMs: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let done = false;
      let checking = Promise.resolve();
      const finish = (error: unknown, value?: T) => {
        if (done) return;
        done = true;
        cancel();
        off();
        if (error) reject(error);
        else resolve(value as T);
      };
      // Checks run one after another, so a slow check never overtakes a later one.
      const attempt = () => {
        checking = checking.then(check).then(
          (value) => {
            if (value !== undefined) finish(undefined, value);
          },
          (error: unknown) => finish(error),
        );
      };
      const off = this.subscribe(id, attempt);
      const cancel = clock.timer(timeoutMs, () => finish(onTimeout()));
      attempt();
    });
  }

  private call<A>(listener: (arg: A) => void, arg: A): void {
    try {
      listener(arg);
    } catch {
      this.listenerErrors++;
    }
  }
}
