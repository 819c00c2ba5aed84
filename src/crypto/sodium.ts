/**
 * libsodium, loaded once. libsodium-wrappers initialises a WebAssembly module
 * asynchronously; everything that seals or hashes calls `loadSodium()` first
 * (openReplica does), after which `sodium()` is synchronous.
 *
 * The sumo build, because only it has crypto_pwhash (Argon2id), which derives
 * a device's master key from a passphrase (src/crypto/passphrase-key.ts). One
 * copy for everything: it adds about 100 KB minified (37 KB gzipped) to a
 * browser bundle, where a second, sumo-only copy for the passphrase would add
 * 535 KB (188 KB gzipped).
 */
import libsodium from "libsodium-wrappers-sumo";

export type Sodium = typeof libsodium;

let loaded: Sodium | undefined;

export async function loadSodium(): Promise<Sodium> {
  if (!loaded) {
    await libsodium.ready;
    loaded = libsodium;
  }
  return loaded;
}

/** The loaded library. Calling it before `loadSodium()` resolved is a bug. */
export function sodium(): Sodium {
  if (!loaded) throw new Error("assertion failed: loadSodium() must resolve before sealing or hashing");
  return loaded;
}
