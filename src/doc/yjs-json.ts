/**
 * The canonical JSON view of a Y.Doc. Replicas with equal content must print
 * the same JSON even when only one of them has called getText/getMap on a
 * root, so root types are read by content, never by their JS class:
 * - a root with a visible map entry is an object (its sequence, if any, is ignored);
 * - otherwise a root whose visible sequence holds text (and embeds) is a string;
 * - otherwise a root with a visible sequence is an array;
 * - a root with no visible content is left out (an empty text, array and map
 *   look the same on the wire).
 * Nested types carry their kind on the wire and are read by class: Y.Map →
 * object, Y.Array and Y.XmlFragment → array, Y.Text and Y.XmlText → string
 * (formatting and embeds dropped), Y.XmlElement → {"$element", "attributes",
 * "children"}, Y.XmlHook → {"$hook", "entries"}, a counter map
 * (yjs-counter.ts) → the sum of its entries. Stored values go through
 * canonicalize (bytes as {"$bytes": base64}, undefined as null).
 */
import * as Y from "yjs";
import { canonicalize, compareKeys, putKey, type JsonValue } from "./canonical-json.ts";
import { isYjsCounter, yjsCounterTotal } from "./yjs-counter.ts";

// Yjs types are generic over their event type, which the JSON view does not care about.
type Type = Y.AbstractType<any>;

/** Canonical JSON of every non-empty root type, keyed by root name. */
export function yjsToJSON(doc: Y.Doc): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const name of [...doc.share.keys()].sort(compareKeys)) {
    const value = untypedValue(doc.share.get(name)!);
    if (value !== undefined) putKey(out, name, value);
  }
  return out;
}

function untypedValue(type: Type): JsonValue | undefined {
  for (const item of type._map.values()) {
    if (!item.deleted) return mapValue(type);
  }
  let sawText = false;
  let sawOther = false;
  for (let item = type._start; item !== null; item = item.right) {
    if (item.deleted || !item.countable) continue;
    if (item.content instanceof Y.ContentString) sawText = true;
    else if (!(item.content instanceof Y.ContentEmbed)) sawOther = true;
  }
  if (sawText && !sawOther) return textValue(type);
  if (sawText || sawOther) return sequenceValue(type);
  return undefined;
}

function typedValue(type: Type): JsonValue {
  if (type instanceof Y.XmlText || type instanceof Y.Text) return textValue(type);
  if (type instanceof Y.XmlElement) return { $element: type.nodeName, attributes: mapValue(type), children: sequenceValue(type) };
  if (type instanceof Y.XmlFragment || type instanceof Y.Array) return sequenceValue(type);
  if (type instanceof Y.XmlHook) return { $hook: type.hookName, entries: mapValue(type) };
  if (isYjsCounter(type)) return yjsCounterTotal(type);
  if (type instanceof Y.Map) return mapValue(type);
  return untypedValue(type) ?? null;
}

function valueOf(value: unknown): JsonValue {
  if (value instanceof Y.AbstractType) return typedValue(value);
  if (value instanceof Y.Doc) return null; // subdocuments are rejected on the way in
  return canonicalize(value);
}

function mapValue(type: Type): { [key: string]: JsonValue } {
  const out: { [key: string]: JsonValue } = {};
  for (const key of [...type._map.keys()].sort(compareKeys)) {
    const item = type._map.get(key)!;
    if (item.deleted) continue;
    // The live value of a map entry is the last element of its item (as Y.Map reads it).
    putKey(out, key, valueOf(item.content.getContent()[item.length - 1]));
  }
  return out;
}

function sequenceValue(type: Type): JsonValue[] {
  const out: JsonValue[] = [];
  for (let item = type._start; item !== null; item = item.right) {
    if (item.deleted || !item.countable) continue;
    for (const value of item.content.getContent()) out.push(valueOf(value));
  }
  return out;
}

function textValue(type: Type): string {
  const parts: string[] = [];
  for (let item = type._start; item !== null; item = item.right) {
    if (!item.deleted && item.countable && item.content instanceof Y.ContentString) parts.push(item.content.str);
  }
  return parts.join("");
}
