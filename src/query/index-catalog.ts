/**
 * Index definitions live in a reserved system document that replicates like
 * any other, so every region maintains the same indexes. Its JSON view is
 * `{ indexes: { <name>: { path, type, kind } } }`; two regions that define
 * one name at once converge on one definition by the engine's own rule.
 */
import type { JsonOp } from "../doc/json-ops.ts";
import { isConcordError } from "../errors.ts";
import { checkDefinition, type IndexDefinition } from "./index-definition.ts";

/** The id of the definitions document. Ids starting with `systemIdPrefix` are refused to users. */
export const indexCatalogId = "~concord/indexes";
export const systemIdPrefix = "~concord/";

export const isSystemId = (id: string) => id.startsWith(systemIdPrefix);

/** The valid definitions the document's JSON view holds (an entry that does not check is skipped). */
export function definitionsFromJson(json: unknown): IndexDefinition[] {
  const map = (json as { indexes?: unknown } | undefined)?.indexes;
  if (typeof map !== "object" || map === null) return [];
  const defs: IndexDefinition[] = [];
  for (const [name, body] of Object.entries(map as Record<string, unknown>)) {
    try {
      defs.push(checkDefinition({ ...(body as object), name }));
    } catch (error) {
      if (!isConcordError(error, "invalid_argument")) throw error;
    }
  }
  return defs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export const addDefinitionOps = (def: IndexDefinition): JsonOp[] => [
  { op: "set", path: ["indexes", def.name], value: { path: def.path, type: def.type, kind: def.kind } },
];

export const dropDefinitionOps = (name: string): JsonOp[] => [{ op: "delete", path: ["indexes", name] }];
