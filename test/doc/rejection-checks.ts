/**
 * Assertions shared by the hostile-input tests of both engines: a rejected
 * delta throws a ConcordError, leaves version, JSON and snapshot exactly as
 * they were, and the document keeps accepting valid deltas.
 */
import { expect } from "vitest";
import { ConcordError, isConcordError, type ErrorCode } from "../../src/errors.ts";
import type { DocEngine } from "../../src/doc/engine.ts";
import { canonicalStringify } from "../../src/doc/canonical-json.ts";

export interface Expected {
  code?: ErrorCode;
  reason?: string;
}

/** The ConcordError `fn` throws; fails the test if it throws nothing or anything else. */
export function thrown(fn: () => unknown): ConcordError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConcordError);
    return error as ConcordError;
  }
  throw new Error("expected a ConcordError");
}

/** What a rejection must leave exactly as it was. */
function observe<S>(engine: DocEngine<S>, state: S) {
  return { version: engine.version(state), json: canonicalStringify(engine.toJSON(state)) };
}

/** A rejection's code and reason are as expected, it is not marked damaged, and `state` is as `before`. */
function checkRejection<S>(engine: DocEngine<S>, state: S, before: ReturnType<typeof observe>, error: ConcordError, expected: Expected): void {
  if (expected.code !== undefined) expect(error.code).toBe(expected.code);
  else expect(["invalid_update", "too_large"]).toContain(error.code);
  if (expected.reason !== undefined) expect(error.details["reason"]).toBe(expected.reason);
  expect(error.details["damaged"]).toBeUndefined();
  expect(observe(engine, state)).toEqual(before);
}

/** Applies `delta`, expecting a rejection that leaves `state` untouched; returns the error. */
export function expectRejected<S>(engine: DocEngine<S>, state: S, delta: Uint8Array, expected: Expected = {}): ConcordError {
  const before = observe(engine, state);
  let caught: unknown;
  try {
    engine.apply(state, delta);
  } catch (error) {
    caught = error;
  }
  expect(caught, "the delta was accepted").toBeInstanceOf(ConcordError);
  checkRejection(engine, state, before, caught as ConcordError, expected);
  return caught as ConcordError;
}

/**
 * Applies `delta` when it may be valid (random or mutated bytes): either it is
 * accepted and the document still snapshots and reloads to the same content,
 * or it is rejected as by expectRejected. Returns the state to carry on with.
 */
export function expectAcceptedOrRejected<S>(engine: DocEngine<S>, state: S, delta: Uint8Array): S {
  const before = observe(engine, state);
  try {
    const { state: next } = engine.apply(state, delta);
    expect(observe(engine, engine.load(engine.snapshot(next)))).toEqual(observe(engine, next));
    return next;
  } catch (error) {
    if (!isConcordError(error)) throw error;
    checkRejection(engine, state, before, error, {});
    return state;
  }
}

/**
 * Asserts `state` still takes a valid delta: a replica loaded from its
 * snapshot makes `edit`, and the delta applies with changed: true.
 */
export function expectStillAccepts<S>(engine: DocEngine<S>, state: S, edit: (doc: any) => void): S {
  const writer = engine.load(engine.snapshot(state));
  const { delta } = engine.change(writer, edit);
  const { state: next, changed } = engine.apply(state, delta);
  expect(changed).toBe(true);
  return next;
}
