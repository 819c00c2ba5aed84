/**
 * A lean, strict decoder for Yjs V1 updates. It reads exactly the wire format
 * Yjs's own readClientsStructRefs/readAndApplyDeleteSet read, but only keeps
 * what validation needs (ids, references, content length and nesting), never
 * touches a Y.Doc, bounds every count by the bytes left (no huge allocations)
 * and bounds nesting while reading (no deep recursion). An update it accepts
 * is decoded by Yjs to the same structs.
 */
import { ByteReader, malformed } from "./byte-reader.ts";
import { invalidUpdate } from "./engine-errors.ts";
import { jsonDepth } from "./json-depth.ts";

/** What a struct is: Yjs's GC and Skip placeholders, or a real item. */
export const structKinds = { gc: 0, skip: 1, item: 2 } as const;
export type StructKind = (typeof structKinds)[keyof typeof structKinds];

/** Yjs content ids (`info & 0b11111`). */
export const contentRefs = {
  deleted: 1,
  json: 2,
  binary: 3,
  string: 4,
  embed: 5,
  format: 6,
  type: 7,
  any: 8,
  doc: 9,
} as const;

/**
 * One struct. Absent references have client -1. All fields are always set so
 * every struct has the same shape (cheap property access).
 */
export interface DecodedStruct {
  kind: StructKind;
  client: number;
  clock: number;
  length: number;
  originClient: number;
  originClock: number;
  rightClient: number;
  rightClock: number;
  /** Parent given as an id (client -1 when absent). */
  parentClient: number;
  parentClock: number;
  /** Parent given as a root type name. */
  parentRoot: boolean;
  /** Written-out parent info (no origin, no right origin): the root's name, else null. */
  parentName: string | null;
  /** Written-out parent info: the map key, else null. */
  parentSub: string | null;
  contentRef: number;
  /** Nesting this item's content adds below its parent: 1 for a shared type, the JSON depth for JSON values, else 0. */
  contentDepth: number;
}

/** The structs of one client, contiguous from `clock`. */
export interface DecodedSection {
  client: number;
  clock: number;
  structs: DecodedStruct[];
}

export interface DecodedUpdate {
  sections: DecodedSection[];
  /** Delete-set ranges, flattened as [client, clock, length, client, clock, length, ...]. */
  deletes: number[];
}

const maxClient = 0xffffffff;
const bit8 = 0x80; // has origin
const bit7 = 0x40; // has right origin
const bit6 = 0x20; // has parentSub

/**
 * Decodes a V1 update. Throws ConcordError("invalid_update") with reason
 * "malformed", "too_deep" (a JSON value nested deeper than `maxDepth` on its
 * own) or "unsupported_content" (subdocuments).
 */
export function decodeYjsUpdate(bytes: Uint8Array, maxDepth: number): DecodedUpdate {
  const reader = new ByteReader(bytes);
  const sections: DecodedSection[] = [];
  const sectionCount = reader.count();
  for (let i = 0; i < sectionCount; i++) {
    const structCount = reader.count();
    const client = readClient(reader);
    let clock = reader.varUint();
    const section: DecodedSection = { client, clock, structs: [] };
    for (let j = 0; j < structCount; j++) {
      const struct = readStruct(reader, client, clock, maxDepth);
      clock += struct.length;
      if (clock > Number.MAX_SAFE_INTEGER) malformed("clock out of range");
      section.structs.push(struct);
    }
    sections.push(section);
  }
  const deletes: number[] = [];
  const deleteClients = reader.count();
  for (let i = 0; i < deleteClients; i++) {
    const client = readClient(reader);
    const ranges = reader.count();
    for (let j = 0; j < ranges; j++) {
      const clock = reader.varUint();
      const length = reader.varUint();
      if (length === 0) malformed("empty delete range");
      if (clock + length > Number.MAX_SAFE_INTEGER) malformed("delete range out of range");
      deletes.push(client, clock, length);
    }
  }
  // Yjs ignores trailing bytes; rejecting them keeps one meaning per buffer.
  if (reader.remaining !== 0) malformed(`${reader.remaining} trailing bytes after the update`);
  return { sections, deletes };
}

function readClient(reader: ByteReader): number {
  const client = reader.varUint();
  if (client > maxClient) malformed(`client id ${client} is not a uint32`);
  return client;
}

function readStruct(reader: ByteReader, client: number, clock: number, maxDepth: number): DecodedStruct {
  const info = reader.u8();
  const ref = info & 0x1f;
  const struct: DecodedStruct = {
    kind: structKinds.item,
    client,
    clock,
    length: 0,
    originClient: -1,
    originClock: 0,
    rightClient: -1,
    rightClock: 0,
    parentClient: -1,
    parentClock: 0,
    parentRoot: false,
    parentName: null,
    parentSub: null,
    contentRef: ref,
    contentDepth: 0,
  };
  if (ref === 0 || ref === 10) {
    struct.kind = ref === 0 ? structKinds.gc : structKinds.skip;
    struct.length = reader.varUint();
  } else {
    if ((info & bit8) !== 0) {
      struct.originClient = readClient(reader);
      struct.originClock = reader.varUint();
    }
    if ((info & bit7) !== 0) {
      struct.rightClient = readClient(reader);
      struct.rightClock = reader.varUint();
    }
    if ((info & (bit7 | bit8)) === 0) {
      // No neighbours to copy the parent from: it is written out.
      if (reader.varUint() === 1) {
        struct.parentName = reader.string(); // the root type's name: any valid string
        struct.parentRoot = true;
      } else {
        struct.parentClient = readClient(reader);
        struct.parentClock = reader.varUint();
      }
      if ((info & bit6) !== 0) struct.parentSub = reader.string(); // a map key, any string
    }
    readContent(reader, struct, maxDepth);
  }
  // Zero-length structs share a clock with their successor, which Yjs's binary
  // searches do not expect; Yjs never writes them.
  if (struct.length === 0) malformed("zero-length struct");
  return struct;
}

function readContent(reader: ByteReader, struct: DecodedStruct, maxDepth: number): void {
  switch (struct.contentRef) {
    case contentRefs.deleted:
      struct.length = reader.varUint();
      return;
    case contentRefs.json: {
      const n = reader.count();
      for (let i = 0; i < n; i++) {
        const text = reader.string();
        if (text !== "undefined") struct.contentDepth = Math.max(struct.contentDepth, parseJsonDepth(text, maxDepth));
      }
      struct.length = n;
      return;
    }
    case contentRefs.binary:
      reader.varBytes();
      struct.length = 1;
      return;
    case contentRefs.string:
      struct.length = reader.stringLength(); // Yjs counts UTF-16 code units
      return;
    case contentRefs.embed:
      struct.contentDepth = parseJsonDepth(reader.string(), maxDepth);
      struct.length = 1;
      return;
    case contentRefs.format:
      reader.stringLength(); // attribute name
      struct.contentDepth = parseJsonDepth(reader.string(), maxDepth);
      struct.length = 1;
      return;
    case contentRefs.type: {
      const typeRef = reader.varUint();
      if (typeRef > 6) malformed(`unknown shared type ${typeRef}`);
      if (typeRef === 3 || typeRef === 5) reader.stringLength(); // XmlElement node name, XmlHook name
      struct.contentDepth = 1;
      struct.length = 1;
      return;
    }
    case contentRefs.any: {
      const n = reader.count();
      for (let i = 0; i < n; i++) struct.contentDepth = Math.max(struct.contentDepth, readAnyDepth(reader, 0, maxDepth));
      struct.length = n;
      return;
    }
    case contentRefs.doc:
      // Subdocuments are separate documents Concord neither stores nor replicates,
      // and Yjs builds a Doc (with ambient randomness) from their options.
      throw invalidUpdate("unsupported_content", "Yjs subdocuments are not supported");
    default:
      malformed(`unknown content type ${struct.contentRef}`);
  }
}

function parseJsonDepth(text: string, maxDepth: number): number {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return malformed("JSON content does not parse");
  }
  const depth = jsonDepth(value, maxDepth);
  if (depth > maxDepth) throw tooDeep(maxDepth);
  return depth;
}

/** Skips one lib0 `any` value and returns its nesting depth; `depth` is the nesting around it. */
function readAnyDepth(reader: ByteReader, depth: number, maxDepth: number): number {
  const tag = reader.u8();
  switch (tag) {
    case 127: // undefined
    case 126: // null
    case 121: // false
    case 120: // true
      return 0;
    case 125:
      reader.varInt();
      return 0;
    case 124:
      reader.take(4);
      return 0;
    case 123:
    case 122: // float64, bigint64
      reader.take(8);
      return 0;
    case 119:
      reader.stringLength();
      return 0;
    case 116:
      reader.varBytes();
      return 0;
    case 118:
    case 117: {
      // Checked before descending, so hostile nesting costs no stack.
      if (depth + 1 > maxDepth) throw tooDeep(maxDepth);
      const n = reader.count();
      let inner = 0;
      for (let i = 0; i < n; i++) {
        if (tag === 118) reader.stringLength(); // key
        inner = Math.max(inner, readAnyDepth(reader, depth + 1, maxDepth));
      }
      return inner + 1;
    }
    default:
      return malformed(`unknown value tag ${tag}`);
  }
}

function tooDeep(maxDepth: number): Error {
  return invalidUpdate("too_deep", `content nests deeper than ${maxDepth} levels`);
}
