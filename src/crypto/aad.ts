/**
 * Associated data that binds a sealed record to its place. A record opens only
 * where it was written: same document, same record kind, same sequence.
 */

export const recordKinds = {
  keyring: 1,
  dataKey: 2,
  meta: 3,
  snapshot: 4,
  log: 5,
  tombstone: 6,
  epoch: 7,
  version: 8,
  backupRegionKey: 9,
  indexState: 10,
  indexEntry: 11,
} as const;
export type RecordKind = keyof typeof recordKinds;

const domain = new TextEncoder().encode("concord1");
const emptyHash = new Uint8Array(16);

/** `concord1 · kind · docHash (16, zero for region records) · seq (u64 BE) · extra`. */
export function recordAad(kind: RecordKind, docHash: Uint8Array | null, seq = 0, extra?: Uint8Array): Uint8Array {
  const hash = docHash ?? emptyHash;
  const out = new Uint8Array(domain.length + 1 + hash.length + 8 + (extra?.length ?? 0));
  out.set(domain, 0);
  let at = domain.length;
  out[at++] = recordKinds[kind];
  out.set(hash, at);
  at += hash.length;
  new DataView(out.buffer).setBigUint64(at, BigInt(seq));
  at += 8;
  if (extra) out.set(extra, at);
  return out;
}
