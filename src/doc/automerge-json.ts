/**
 * The canonical JSON view of an Automerge document: Automerge.toJS with the
 * library's value classes turned into JSON (counters → numbers, raw strings
 * → strings, texts are already strings) and then canonicalize (keys sorted,
 * dates → ISO strings, bytes → {"$bytes": base64}, uint → number).
 */
import * as Automerge from "@automerge/automerge";
import { canonicalize, type JsonValue } from "./canonical-json.ts";

/** Canonical JSON of the whole document. */
export function automergeToJSON(doc: Automerge.Doc<unknown>): JsonValue {
  return canonicalize(plain(Automerge.toJS(doc)));
}

// Recursion is bounded by limits.maxDepth, which every change and snapshot was checked against.
function plain(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Automerge.Counter) return value.value;
  if (Automerge.isImmutableString(value)) return value.toString();
  if (value instanceof Date || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(plain);
  const out: Record<string, unknown> = {};
  for (const [key, member] of Object.entries(value)) {
    Object.defineProperty(out, key, { value: plain(member), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
