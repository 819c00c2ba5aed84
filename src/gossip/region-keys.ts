/**
 * Region identity for gossip: an X25519 key pair per region, public halves in
 * the topology. Each pair of regions derives one symmetric key that encrypts
 * and authenticates every frame between them, in both directions.
 */
import { keyedHash } from "../crypto/keyed-hash.ts";
import { sodium } from "../crypto/sodium.ts";
import { ConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";
import { compareBytes } from "../storage/bytes.ts";

export interface RegionKeyPair {
  publicKey: Uint8Array;
  secretKey: Uint8Array;
}

/** A key pair from 32 random bytes (a CSPRNG in production, seeded in the simulator). */
export function generateRegionKeyPair(random: Random): RegionKeyPair {
  const secretKey = random.bytes(32);
  return { secretKey, publicKey: sodium().crypto_scalarmult_base(secretKey) };
}

export function regionPublicKey(secretKey: Uint8Array): Uint8Array {
  return sodium().crypto_scalarmult_base(secretKey);
}

/**
 * The pair key of two regions: BLAKE2b over the X25519 shared secret and both
 * public keys (sorted, so both sides derive the same key).
 */
export function derivePairKey(mine: RegionKeyPair, theirPublicKey: Uint8Array): Uint8Array {
  if (theirPublicKey.length !== 32) throw new ConcordError("invalid_argument", "an X25519 public key is 32 bytes");
  let shared: Uint8Array;
  try {
    shared = sodium().crypto_scalarmult(mine.secretKey, theirPublicKey);
  } catch (cause) {
    throw new ConcordError("invalid_argument", "a peer's public key is not a valid X25519 point", { cause });
  }
  const [low, high] = compareBytes(mine.publicKey, theirPublicKey) <= 0 ? [mine.publicKey, theirPublicKey] : [theirPublicKey, mine.publicKey];
  const input = new Uint8Array(96);
  input.set(shared, 0);
  input.set(low, 32);
  input.set(high, 64);
  return keyedHash(null, input, 32);
}
