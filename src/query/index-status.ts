/**
 * Which indexes are complete (backfilled over every document) in this
 * region: a small record sealed by the index key, J, rewritten when a
 * backfill or a purge finishes. Queries use complete indexes only.
 */
import { recordAad } from "../crypto/aad.ts";
import { open, seal } from "../crypto/seal.ts";
import type { Random } from "../runtime/random.ts";
import type { Store, StoreWrite } from "../storage/store.ts";
import type { IndexKeys } from "./index-layout.ts";

const statusKey = Uint8Array.of(0x4a);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Hex ids of the complete indexes. */
export async function readReady(store: Store, keys: IndexKeys): Promise<Set<string>> {
  const sealed = await store.get(statusKey);
  if (!sealed) return new Set();
  const plain = open(keys.sealKey, sealed, recordAad("indexState", null, 1), "the index status record");
  return new Set(JSON.parse(decoder.decode(plain)) as string[]);
}

export function readyRecord(keys: IndexKeys, ready: ReadonlySet<string>, random: Random): StoreWrite {
  return { key: statusKey, value: seal(keys.sealKey, encoder.encode(JSON.stringify([...ready].sort())), recordAad("indexState", null, 1), random) };
}
