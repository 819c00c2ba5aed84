/**
 * Request paths as they go into logs: a document id is as private as its
 * content (a data directory holds none, DESIGN "Storage and crypto"), so
 * /v1/docs/<id>… is logged as /v1/docs/<hash>… with a short keyed hash of the
 * id. The same id gives the same hash under the same key, so an operator can
 * follow one document through the log, and someone holding the key can
 * check whether a given id appears; nobody else can.
 */
import { keyedHash } from "../crypto/keyed-hash.ts";

const docPath = /^\/v1\/docs\/(.+?)(\/events|\/updates)?$/;

/** Hex of the first 8 bytes of BLAKE2b(key, id): short enough to read, long enough not to collide in a log. */
export function logIdHash(key: Uint8Array, id: string): string {
  return Buffer.from(keyedHash(key, id, 16).subarray(0, 8)).toString("hex");
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // a malformed escape is hashed as sent
  }
}

/** `path` with any document id replaced by `<hash>`; every other path unchanged. */
export function redactPath(key: Uint8Array, path: string): string {
  const match = docPath.exec(path);
  if (!match) return path;
  return `/v1/docs/<${logIdHash(key, decoded(match[1]!))}>${match[2] ?? ""}`;
}

/**
 * redactPath for one key, remembering the last `maxEntries` paths (of at
 * most `maxPathLength` characters) it redacted: a BLAKE2b per logged request is a visible share of a small GET,
 * and hot documents are asked for again and again. The ids it holds are
 * in memory anyway while their requests run; the cache only keeps them a
 * little longer, and never outside the process.
 */
export function createPathRedactor(key: Uint8Array, maxEntries = 4096, maxPathLength = 256): (path: string) => string {
  const recent = new Map<string, string>();
  return (path) => {
    let redacted = recent.get(path);
    if (redacted === undefined) {
      redacted = redactPath(key, path);
      if (path.length > maxPathLength) return redacted; // so the cache stays within maxEntries × maxPathLength
      if (recent.size >= maxEntries) recent.delete(recent.keys().next().value!);
      recent.set(path, redacted);
    }
    return redacted;
  };
}
