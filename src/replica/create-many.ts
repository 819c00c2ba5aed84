/**
 * Creating documents in bulk (Replica.createMany): every item is validated on
 * its own, then all that pass are written in one atomic store write, one
 * sealed record per record kind and document (data key, metadata, version,
 * and the initial shape's change when there is one). Results are per item,
 * not all-or-nothing: an item refused (bad id, kind or shape, an id twice in
 * the batch, "exists", "deleted") keeps only itself out. Only a failed store
 * write fails the whole call, and then nothing of it was created.
 *
 * Documents are not loaded into the cache: a bulk import should not evict
 * what readers use; each loads on its first read or write.
 */
import type { DocEngine, DocKind } from "../doc/engine.ts";
import { docKinds } from "../doc/engine.ts";
import { parseInitialShape } from "../doc/initial-shape.ts";
import { ConcordError } from "../errors.ts";
import type { NewDoc } from "../storage/doc-store.ts";
import { checkNewDocId } from "./doc-id.ts";
import type { DocSlots } from "./doc-slots.ts";
import type { DocWriter } from "./doc-writer.ts";
import type { CreateItem, CreateResult } from "./types.ts";
import { encodeVersion, versionHash } from "./version-token.ts";

/** A new document's first content: what is stored, announced and reported. */
interface FirstState {
  /** Appended at seq 1; undefined for an empty document. */
  stored: Uint8Array | undefined;
  /** What the change feed carries: the change, or the empty state. */
  announced: Uint8Array;
  versionBytes: Uint8Array;
  version: string;
  hash: Uint8Array;
}

export interface CreateManyDeps {
  slots: DocSlots;
  writer: DocWriter;
  engines: Record<DocKind, DocEngine<unknown>>;
  /** Empty documents are alike: their state is computed once per kind. */
  emptyStates: Map<DocKind, FirstState>;
}

function emptyState(deps: CreateManyDeps, kind: DocKind): FirstState {
  let empty = deps.emptyStates.get(kind);
  if (!empty) {
    const engine = deps.engines[kind];
    const state = engine.create();
    const versionBytes = engine.version(state);
    empty = { stored: undefined, announced: engine.snapshot(state), versionBytes, version: encodeVersion(versionBytes), hash: versionHash(versionBytes) };
    deps.emptyStates.set(kind, empty);
  }
  return empty;
}

/** Validates one item; its first state. Throws ConcordError "invalid_argument" (or the engine's refusal of the shape). */
function firstState(deps: CreateManyDeps, item: CreateItem): FirstState {
  if (typeof item !== "object" || item === null) throw new ConcordError("invalid_argument", "an item is { id, kind, init? }");
  checkNewDocId(item.id);
  const kind = item.kind;
  if (!docKinds.includes(kind)) {
    throw new ConcordError("invalid_argument", `a document kind is one of ${docKinds.join(", ")} (got ${String(kind)})`);
  }
  if (item.init === undefined) return emptyState(deps, kind);
  const init = parseInitialShape(item.init);
  if (Object.keys(init).length === 0) return emptyState(deps, kind);
  const engine = deps.engines[kind];
  const { state, delta } = engine.initialize(engine.create(), item.id, init);
  const versionBytes = engine.version(state);
  return { stored: delta, announced: delta, versionBytes, version: encodeVersion(versionBytes), hash: versionHash(versionBytes) };
}

const refused = (id: unknown, error: unknown): CreateResult => {
  if (!(error instanceof ConcordError)) throw error;
  return { id: typeof id === "string" ? id : String(id), ok: false, error };
};

/** Creates `items`; one result per item, in order (see the top of this file). */
export async function createMany(deps: CreateManyDeps, items: readonly CreateItem[]): Promise<CreateResult[]> {
  const results: Array<CreateResult | undefined> = new Array(items.length);
  const planned: Array<{ index: number; first: FirstState; doc: NewDoc }> = [];
  const seen = new Set<string>();
  items.forEach((item, index) => {
    try {
      const first = firstState(deps, item);
      if (seen.has(item.id)) throw new ConcordError("invalid_argument", `document "${item.id}" appears twice in the batch`);
      seen.add(item.id);
      const doc: NewDoc = { id: item.id, kind: item.kind, versionHash: first.hash, ...(first.stored ? { delta: first.stored } : {}) };
      planned.push({ index, first, doc });
    } catch (error) {
      results[index] = refused(item?.id, error);
    }
  });
  if (planned.length > 0) {
    const stored = await deps.slots.createMany(planned.map((p) => p.doc), (handle, i) => {
      const { first } = planned[i]!;
      deps.writer.announceNew(handle, first.announced, first.versionBytes, first.version);
    });
    stored.forEach((result, i) => {
      const { index, doc, first } = planned[i]!;
      results[index] = result instanceof ConcordError ? refused(doc.id, result) : { id: doc.id, ok: true, version: first.version };
    });
  }
  return results as CreateResult[];
}
