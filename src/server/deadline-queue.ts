/**
 * Many sockets' timers of one fixed delay (keep-alive, ping) on one clock
 * timer. A timer per socket costs a Timeout, a closure and its context
 * (about 270 bytes on the heap) and is re-created at every firing; here a
 * socket costs one entry of an insertion-ordered Map. Because every entry has
 * the same delay, insertion order is deadline order: `touch` moves an entry
 * to the back, the front is always the next due, and the single clock timer
 * is armed for it. Each entry fires at exactly its deadline (the clock's
 * timer for the front), as its own timer would have.
 *
 *   const pings = new DeadlineQueue<Connection>(clock, 30_000, (c) => c.pingDue());
 *   pings.touch(connection);   // due in 30 s (again, if it was queued)
 *   pings.remove(connection);  // on close
 */
import type { Clock } from "../runtime/clock.ts";

export class DeadlineQueue<T> {
  /** Entry → its deadline; insertion order is deadline order (one delay for all). */
  private readonly deadlines = new Map<T, number>();
  private stopTimer: (() => void) | undefined;
  private armedFor = Infinity;

  /** `due(entry)` runs once per touch, `delayMs` after it; the entry is out of the queue by then (touch it again to repeat). */
  constructor(private readonly clock: Clock, readonly delayMs: number, private readonly due: (entry: T) => void) {}

  /** (Re)starts `entry`'s delay from now. */
  touch(entry: T): void {
    this.deadlines.delete(entry);
    const deadline = this.clock.now() + this.delayMs;
    this.deadlines.set(entry, deadline);
    if (this.stopTimer === undefined) this.arm(deadline);
  }

  remove(entry: T): void {
    this.deadlines.delete(entry);
    if (this.deadlines.size === 0) this.disarm();
  }

  get size(): number {
    return this.deadlines.size;
  }

  private arm(deadline: number): void {
    this.armedFor = deadline;
    this.stopTimer = this.clock.timer(Math.max(0, deadline - this.clock.now()), () => this.fire());
  }

  private disarm(): void {
    this.stopTimer?.();
    this.stopTimer = undefined;
    this.armedFor = Infinity;
  }

  /** Runs every entry whose deadline has come, in order, then re-arms for the next one. */
  private fire(): void {
    this.stopTimer = undefined;
    const now = Math.max(this.clock.now(), this.armedFor); // a real timer may fire a hair early by the wall clock
    this.armedFor = Infinity;
    for (const [entry, deadline] of this.deadlines) {
      if (deadline > now) break;
      this.deadlines.delete(entry);
      this.due(entry); // may touch entries: they go to the back, with a later deadline
    }
    if (this.stopTimer !== undefined) return; // a due entry touched an empty queue: already armed
    const next = this.deadlines.values().next();
    if (!next.done) this.arm(next.value);
  }
}
