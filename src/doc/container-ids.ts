/**
 * Writer identities for changes that every region must make byte-identically.
 *
 * Two regions that each create "the list under `items`" with their own
 * writer make two objects, and the engine keeps one: the other's content is
 * gone although it was acknowledged. So a container that an op needs and the
 * document lacks is created by a writer derived from what names the
 * container: the document id, the parent object, the key, the container type
 * and (Yjs) the item it follows at that key. Every region that creates it
 * from the same state makes the same struct or change, which the engine
 * merges as one. Initial shapes (`create(id, kind, { init })`) get a writer
 * derived from the document id and the shape, for the same reason.
 *
 * SHA-256 (lib0, pure and browser-safe): these ids must be the same in every
 * region and every release, so the derivation is fixed; change it and
 * concurrent creations across versions stop merging.
 */
import { digest } from "lib0/hash/sha256";

const encoder = new TextEncoder();

/** Domain-separated digest of `parts` (length-prefixed, so no two part lists collide). */
function derive(domain: string, parts: readonly string[]): Uint8Array {
  const chunks = [domain, ...parts].map((part) => encoder.encode(part));
  const out = new Uint8Array(chunks.reduce((n, chunk) => n + 4 + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    new DataView(out.buffer).setUint32(at, chunk.length);
    out.set(chunk, at + 4);
    at += 4 + chunk.length;
  }
  return digest(out);
}

/**
 * A Yjs client id (uint32, never 0) for a deterministic struct. Random client
 * ids are uint32 too (the update check refuses larger ones), so a collision
 * with a live writer is as likely as two random writers colliding.
 */
export function deterministicClientId(domain: string, parts: readonly string[]): number {
  const hash = derive(`concord/yjs/${domain}`, parts);
  const id = new DataView(hash.buffer, hash.byteOffset).getUint32(0);
  return id === 0 ? 1 : id;
}

/** An Automerge actor id (16 bytes, hex) for a deterministic change. */
export function deterministicActor(domain: string, parts: readonly string[]): string {
  let hex = "";
  for (const byte of derive(`concord/automerge/${domain}`, parts).subarray(0, 16)) hex += byte.toString(16).padStart(2, "0");
  return hex;
}
