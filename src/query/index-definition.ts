/**
 * Index definitions: which path of a document's canonical JSON view an index
 * reads, the type of value it accepts, and its kind. An `equality` index
 * (the default) reveals at rest only which documents share a value; an
 * `order` index, which the operator opts into per index, also reveals the
 * order of values (see order-encoding.ts and the README's table).
 */
import { ConcordError } from "../errors.ts";

export const indexTypes = ["string", "number", "boolean"] as const;
export type IndexType = (typeof indexTypes)[number];
export const indexKinds = ["equality", "order"] as const;
export type IndexKind = (typeof indexKinds)[number];

export interface IndexDefinition {
  /** 1..64 characters of [A-Za-z0-9_.-]. */
  name: string;
  /** Dot-separated object keys into the canonical JSON, e.g. `meta.status`. */
  path: string;
  type: IndexType;
  kind: IndexKind;
}

/** A value an index holds. */
export type IndexValue = string | number | boolean;

/** At most this many indexes per store: every write maintains all of them. */
export const maxIndexes = 32;

const namePattern = /^[A-Za-z0-9_.-]{1,64}$/;
const segmentPattern = /^[^.]{1,128}$/;

/** The definition with defaults filled in. Throws ConcordError("invalid_argument") naming what is wrong. */
export function checkDefinition(input: unknown): IndexDefinition {
  const bad = (why: string) => new ConcordError("invalid_argument", `bad index definition: ${why}`, { details: { reason: "bad_index" } });
  if (typeof input !== "object" || input === null) throw bad("expected an object");
  const { name, path, type, kind = "equality" } = input as Record<string, unknown>;
  if (typeof name !== "string" || !namePattern.test(name)) throw bad(`name must be 1-64 characters of A-Z a-z 0-9 _ . -`);
  if (typeof path !== "string" || path.length > 512 || !path.split(".").every((s) => segmentPattern.test(s))) {
    throw bad(`path must be dot-separated keys, e.g. "meta.status"`);
  }
  if (!indexTypes.includes(type as IndexType)) throw bad(`type must be one of ${indexTypes.join(", ")}`);
  if (!indexKinds.includes(kind as IndexKind)) throw bad(`kind must be one of ${indexKinds.join(", ")}`);
  return { name, path, type: type as IndexType, kind: kind as IndexKind };
}

/** Definitions as a list sorted by name; throws on duplicate names or more than maxIndexes. */
export function checkDefinitions(inputs: readonly unknown[]): IndexDefinition[] {
  const defs = inputs.map(checkDefinition).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (let i = 1; i < defs.length; i++) {
    if (defs[i]!.name === defs[i - 1]!.name) throw new ConcordError("invalid_argument", `two indexes are named "${defs[i]!.name}"`);
  }
  if (defs.length > maxIndexes) throw new ConcordError("invalid_argument", `at most ${maxIndexes} indexes`);
  return defs;
}

/** Whether `value` is of the index's type (a NaN or infinite number is not a number here). */
export function isIndexValue(type: IndexType, value: unknown): value is IndexValue {
  if (type === "number") return typeof value === "number" && Number.isFinite(value);
  return typeof value === type;
}
