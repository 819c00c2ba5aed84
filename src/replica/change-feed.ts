/**
 * Who hears about durable changes: per-document subscribers, whole-replica
 * subscribers, and observers (replication). A throwing listener is counted,
 * never allowed to fail the write that triggered it.
 *
 * A per-document subscriber may instead ask to hear of a change as soon as it
 * is applied here, before it is durable (`when: "applied"`): sockets relaying
 * edits to other editors, which need not wait for a disk (see
 * subscribe()). Each change reaches such a listener once: at its apply when
 * the write path announced it then (emitApplied), else with the durable event.
 */
import type { Clock } from "../runtime/clock.ts";
import type { ChangeListener, DocChange, ReplicaEvent } from "./types.ts";

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
   * now. The durable emit() that follows must carry the same `delta` object.
   */
  emitApplied(id: string, describe: () => DocChange): void {
    const listeners = this.appliedByDoc.get(id);
    if (!listeners && this.appliedAll.size === 0) return; // nobody listens: the change is not even described
    const change = describe();
    this.announcedEarly.add(change.delta);
    listeners?.forEach((listener) => this.call(listener, change));
    this.appliedAll.forEach((listener) => this.call(listener, change));
  }

  subscribeAll(listener: ChangeListener, when: ChangeMoment = "durable"): () => void {
    const all = when === "applied" ? this.appliedAll : this.all;
    all.add(listener);
    return () => void all.delete(listener);
  }

  observe(observer: (event: ReplicaEvent) => void): () => void {
    this.observers.add(observer);
    return () => void this.observers.delete(observer);
  }

  emit(event: ReplicaEvent): void {
    if (event.type === "change") {
      const change: DocChange = { id: event.id, kind: event.kind, delta: event.delta, version: event.version, origin: event.origin };
      this.byDoc.get(event.id)?.forEach((listener) => this.call(listener, change));
      if (!this.announcedEarly.has(event.delta)) {
        this.appliedByDoc.get(event.id)?.forEach((listener) => this.call(listener, change));
        this.appliedAll.forEach((listener) => this.call(listener, change));
      }
      this.all.forEach((listener) => this.call(listener, change));
    }
    this.observers.forEach((observer) => this.call(observer, event));
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
