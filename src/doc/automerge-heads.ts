/**
 * Automerge versions: the document's heads (SHA-256 change hashes), sorted
 * and concatenated as raw 32-byte values. Equal heads mean equal history and
 * so equal content; an empty document's version is empty.
 */
import * as Automerge from "@automerge/automerge";
import { invalidUpdate } from "./engine-errors.ts";

const hashBytes = 32;

/** `doc`'s heads, sorted. */
export function sortedHeads(doc: Automerge.Doc<unknown>): string[] {
  return Automerge.getHeads(doc).slice().sort();
}

/** The version bytes of `doc`. */
export function encodeHeads(heads: string[]): Uint8Array {
  const out = new Uint8Array(heads.length * hashBytes);
  heads.forEach((hash, i) => {
    for (let j = 0; j < hashBytes; j++) out[i * hashBytes + j] = Number.parseInt(hash.slice(j * 2, j * 2 + 2), 16);
  });
  return out;
}

/** Heads from version bytes. Throws ConcordError("invalid_update", "malformed") unless a whole number of hashes. */
export function decodeHeads(version: Uint8Array): string[] {
  if (version.length % hashBytes !== 0) {
    throw invalidUpdate("malformed", `an Automerge version is a multiple of ${hashBytes} bytes, got ${version.length}`);
  }
  const heads: string[] = [];
  for (let i = 0; i < version.length; i += hashBytes) {
    let hex = "";
    for (let j = i; j < i + hashBytes; j++) hex += version[j]!.toString(16).padStart(2, "0");
    heads.push(hex);
  }
  return heads;
}
