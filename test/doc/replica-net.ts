/**
 * A tiny in-memory "network" of replicas of one document, for the engine
 * property tests: replicas edit, deltas are delivered per origin in order,
 * a delta that arrives before what it depends on waits in the receiver's
 * pending buffer (the engine rejects it with missing_dependencies and leaves
 * the state alone) and is retried after every successful apply.
 */
import { expect } from "vitest";
import { isConcordError } from "../../src/errors.ts";
import type { DocEngine } from "../../src/doc/engine.ts";
import { canonicalStringify } from "../../src/doc/canonical-json.ts";

export class ReplicaNet<S> {
  readonly states: S[];
  /** Deltas each replica produced, in order. */
  readonly sent: Uint8Array[][];
  /** next[r][o]: index of the next delta of origin o that replica r has not been handed. */
  readonly next: number[][];
  readonly pending: Uint8Array[][];

  constructor(
    readonly engine: DocEngine<S>,
    initial: S[],
  ) {
    this.states = initial;
    this.sent = initial.map(() => []);
    this.next = initial.map(() => initial.map(() => 0));
    this.pending = initial.map(() => []);
  }

  get size(): number {
    return this.states.length;
  }

  /** Runs a local edit on replica `r` and records the delta it produced. */
  edit(r: number, edit: (doc: any) => void): void {
    const { state, delta } = this.engine.change(this.states[r]!, edit);
    this.states[r] = state;
    if (delta.length > 0) {
      this.sent[r]!.push(delta);
      // A replica trivially has its own deltas.
      this.next[r]![r] = this.sent[r]!.length;
    }
  }

  /** Hands replica `r` up to `count` further deltas of `origin`, in order, one at a time. */
  deliver(r: number, origin: number, count = 1): void {
    for (let i = 0; i < count; i++) {
      const delta = this.sent[origin]![this.next[r]![origin]!];
      if (delta === undefined) return;
      this.next[r]![origin]!++;
      this.receive(r, delta);
    }
  }

  /** Applies `delta` at replica `r`, parking it when its dependencies are not there yet. */
  receive(r: number, delta: Uint8Array): void {
    if (this.tryApply(r, delta)) this.flush(r);
    else this.pending[r]!.push(delta);
  }

  /** Replica `r` pulls what it lacks from `from` as one engine diff, which must always apply. */
  pull(r: number, from: number): void {
    const diff = this.engine.diff(this.states[from]!, this.engine.version(this.states[r]!));
    const { state } = this.engine.apply(this.states[r]!, diff);
    this.states[r] = state;
    this.flush(r);
  }

  /** Re-delivers a delta replica `r` already has; it must be a no-op. */
  duplicate(r: number, origin: number, pick: number): void {
    const have = this.next[r]![origin]!;
    if (have === 0 || this.pending[r]!.length > 0) return;
    const delta = this.sent[origin]![pick % have]!;
    const before = this.engine.version(this.states[r]!);
    const { state, changed } = this.engine.apply(this.states[r]!, delta);
    this.states[r] = state;
    expect(changed).toBe(false);
    expect(this.engine.version(state)).toEqual(before);
  }

  /** Delivers everything to everyone; afterwards nothing may be left pending. */
  settle(): void {
    for (let r = 0; r < this.size; r++) {
      for (let o = 0; o < this.size; o++) this.deliver(r, o, Number.MAX_SAFE_INTEGER);
      this.flush(r);
      expect(this.pending[r], `replica ${r} still has deltas waiting`).toEqual([]);
    }
  }

  /** Asserts every replica holds the same content: same canonical JSON, same version. */
  expectConverged(): void {
    const json = this.states.map((s) => canonicalStringify(this.engine.toJSON(s)));
    const versions = this.states.map((s) => this.engine.version(s));
    for (let r = 1; r < this.size; r++) {
      expect(json[r]).toBe(json[0]);
      expect(versions[r]).toEqual(versions[0]);
    }
    for (const s of this.states) for (const v of versions) expect(this.engine.includes(s, v)).toBe(true);
  }

  private tryApply(r: number, delta: Uint8Array): boolean {
    try {
      this.states[r] = this.engine.apply(this.states[r]!, delta).state;
      return true;
    } catch (error) {
      // Only a delta that arrived early may be turned away; anything else is an engine bug.
      if (isConcordError(error, "invalid_update") && error.details["reason"] === "missing_dependencies") return false;
      throw error;
    }
  }

  private flush(r: number): void {
    for (let progress = true; progress; ) {
      progress = false;
      const waiting = this.pending[r]!;
      this.pending[r] = [];
      for (const delta of waiting) {
        if (this.tryApply(r, delta)) progress = true;
        else this.pending[r]!.push(delta);
      }
    }
  }
}
