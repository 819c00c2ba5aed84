/**
 * libsodium, loaded once. libsodium-wrappers initialises a WebAssembly module
 * asynchronously; everything that seals or hashes calls `loadSodium()` first
 * (openReplica does), after which `sodium()` is synchronous.
 */
import libsodium from "libsodium-wrappers";

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
