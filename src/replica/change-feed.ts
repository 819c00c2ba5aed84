/**
 * Who hears about durable changes: per-document subscribers, whole-replica
 * subscribers, and observers (replication). A throwing listener is counted,
 * never allowed to fail the write that triggered it.
 */
import type { Clock } from "../runtime/clock.ts";
import type { ChangeListener, DocChange, ReplicaEvent } from "./types.ts";

export class ChangeFeed {
  private readonly byDoc = new Map<string, Set<ChangeListener>>();
  private readonly all = new Set<ChangeListener>();
  private readonly observers = new Set<(event: ReplicaEvent) => void>();
  listenerErrors = 0;

  subscribe(id: string, listener: ChangeListener): () => void {
    let set = this.byDoc.get(id);
    if (!set) this.byDoc.set(id, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.byDoc.delete(id);
    };
  }

  subscribeAll(listener: ChangeListener): () => void {
    this.all.add(listener);
    return () => void this.all.delete(listener);
  }

  observe(observer: (event: ReplicaEvent) => void): () => void {
    this.observers.add(observer);
    return () => void this.observers.delete(observer);
  }

  emit(event: ReplicaEvent): void {
    if (event.type === "change") {
      const change: DocChange = { id: event.id, kind: event.kind, delta: event.delta, version: event.version, origin: event.origin };
      this.byDoc.get(event.id)?.forEach((listener) => this.call(listener, change));
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
