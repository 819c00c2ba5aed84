/**
 * Is the Automerge engine alive? Automerge runs in one wasm module per
 * process. A trap inside it (RuntimeError: unreachable, memory access out of
 * bounds) marks the module terminated: every later call, on any document,
 * throws "Module terminated". Left alone, a region would answer 500 to every
 * Automerge request behind a green /readyz.
 *
 * So a trap is an engine panic: the engine notes it here, answers
 * "unavailable" (503) instead of touching the dead module, and whoever
 * installed recovery (src/runtime/automerge-wasm.ts) instantiates a fresh
 * module and calls revived(). Documents made by an earlier instance (an older
 * generation) live in its memory and are unusable: the engine refuses them as
 * stale, and replicas reload them from their stores.
 *
 * Process-wide because the wasm module is; it holds no time, randomness or I/O.
 */
import { ConcordError } from "../errors.ts";

let generation = 0;
let dead = false;
let panics = 0;
let lastPanic = "";
const listeners = new Set<(cause: unknown) => void>();

/** True when `error`, or an error in its cause chain, is a wasm trap or a call into a terminated module. */
export function isWasmPanic(error: unknown): boolean {
  for (let e = error, hops = 0; e instanceof Error && hops < 8; e = e.cause, hops++) {
    if (e instanceof WebAssembly.RuntimeError || e.message === "Module terminated") return true;
  }
  return false;
}

/** Which wasm instance documents made now belong to; grows on every revival. */
export function automergeGeneration(): number {
  return generation;
}

/** True between a panic and the revival of a fresh module. */
export function automergeDead(): boolean {
  return dead;
}

/** Panics seen by this process, and the last one's message. */
export function automergePanics(): { count: number; last: string } {
  return { count: panics, last: lastPanic };
}

/** Marks the module dead (once per instance) and tells the listeners. */
export function notePanic(cause: unknown): void {
  if (dead) return;
  dead = true;
  panics++;
  lastPanic = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
  for (const listener of [...listeners]) {
    try {
      listener(cause);
    } catch {
      // A listener's failure must not turn the panic into another error for the request.
    }
  }
}

/** A fresh module is in use: documents of earlier generations are stale from now on. */
export function revived(): void {
  generation++;
  dead = false;
}

/** Calls `listener` on every panic; returns the unsubscribe function. */
export function onAutomergePanic(listener: (cause: unknown) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The error for a request that met a dead engine (the state it was given must be reloaded). */
export function engineDown(cause?: unknown, trapped = false): ConcordError {
  return new ConcordError("unavailable", "the Automerge engine crashed and is being rebuilt; retry shortly", {
    // trapped: this very call trapped, rather than meeting a module another call had killed.
    details: { reason: "engine_panic", damaged: true, ...(trapped ? { trapped: true } : {}) },
    ...(cause !== undefined ? { cause } : {}),
  });
}

/** The error for a document made by an engine instance that has since been replaced. */
export function staleDoc(): ConcordError {
  return new ConcordError("unavailable", "this copy of the document belonged to a crashed Automerge engine; it reloads on the next request", {
    details: { reason: "engine_restarted", damaged: true },
  });
}
