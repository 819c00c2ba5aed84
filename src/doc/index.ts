/**
 * The document layer: pick an engine by kind. Everything outside src/doc
 * works through DocEngine and never branches on the kind itself.
 */
import type * as Automerge from "@automerge/automerge";
import type * as Y from "yjs";
import { ConcordError } from "../errors.ts";
import { createAutomergeEngine } from "./automerge-engine.ts";
import { docKinds, type DocEngine, type DocKind, type EngineDeps } from "./engine.ts";
import { createYjsEngine } from "./yjs-engine.ts";

export { docKinds, defaultEngineLimits } from "./engine.ts";
export type { DocEngine, DocKind, EngineDeps, EngineLimits } from "./engine.ts";
export { createYjsEngine } from "./yjs-engine.ts";
export { createAutomergeEngine } from "./automerge-engine.ts";
export { canonicalize, canonicalStringify, type JsonValue } from "./canonical-json.ts";
export { rejectionReasons, type RejectionReason } from "./engine-errors.ts";

/** True when `x` names an engine ("yjs" or "automerge"). */
export function isDocKind(x: unknown): x is DocKind {
  return typeof x === "string" && (docKinds as readonly string[]).includes(x);
}

/**
 * The engine for `kind`. Throws ConcordError("invalid_argument") for an
 * unknown kind (kinds arrive from the wire and from stored metadata).
 */
export function createEngine(kind: "yjs", deps: EngineDeps): DocEngine<Y.Doc>;
export function createEngine(kind: "automerge", deps: EngineDeps): DocEngine<Automerge.Doc<any>>;
export function createEngine(kind: DocKind, deps: EngineDeps): DocEngine<unknown>;
export function createEngine(kind: DocKind, deps: EngineDeps): DocEngine<unknown> {
  switch (kind) {
    case "yjs":
      return createYjsEngine(deps) as DocEngine<unknown>;
    case "automerge":
      return createAutomergeEngine(deps) as DocEngine<unknown>;
    default:
      throw new ConcordError("invalid_argument", `unknown document kind ${String(kind)}`);
  }
}
