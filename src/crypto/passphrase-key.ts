/**
 * A master key from a passphrase: Argon2id through libsodium's crypto_pwhash,
 * memory-hard, so each guess at a stolen store costs the attacker the same
 * tens of MiB and the same second that it costs the device. Pure: the salt and
 * parameters come from the caller (src/storage/indexeddb-device-key.ts keeps
 * them in IndexedDB). Browser-safe.
 */
import { ConcordError } from "../errors.ts";
import { keyBytes } from "./seal.ts";
import { loadSodium } from "./sodium.ts";

/** Argon2id's cost: passes over memory, and the memory each derivation fills. */
export interface PassphraseKeyParams {
  opsLimit: number;
  memLimitBytes: number;
}

/**
 * libsodium's "interactive" Argon2id setting (2 passes over 64 MiB): about a
 * second in WebAssembly on a loaded 2-core machine, which an app pays once per
 * session. Raise it where the device allows (libsodium's "moderate" is 3 and
 * 256 MiB).
 */
export const defaultPassphraseKeyParams: Readonly<PassphraseKeyParams> = Object.freeze({ opsLimit: 2, memLimitBytes: 64 * 1024 * 1024 });

/** Bytes of salt: crypto_pwhash_SALTBYTES. */
export const passphraseSaltBytes = 16;
/** Longest passphrase accepted, in UTF-8 bytes. */
export const maxPassphraseBytes = 4096;
/** Bounds on the cost: libsodium's own minimum, and what a browser's WebAssembly memory can hold. */
export const passphraseParamLimits = Object.freeze({ opsLimitMax: 64, memLimitBytesMin: 8 * 1024, memLimitBytesMax: 1024 * 1024 * 1024 });

/** Throws ConcordError("invalid_argument") unless `params` are whole numbers within passphraseParamLimits. */
export function checkPassphraseKeyParams(params: PassphraseKeyParams): void {
  const { opsLimit, memLimitBytes } = params;
  if (!Number.isSafeInteger(opsLimit) || opsLimit < 1 || opsLimit > passphraseParamLimits.opsLimitMax) {
    throw new ConcordError("invalid_argument", `opsLimit must be a whole number from 1 to ${passphraseParamLimits.opsLimitMax}, got ${opsLimit}`);
  }
  const { memLimitBytesMin: min, memLimitBytesMax: max } = passphraseParamLimits;
  if (!Number.isSafeInteger(memLimitBytes) || memLimitBytes < min || memLimitBytes > max || memLimitBytes % 1024 !== 0) {
    throw new ConcordError("invalid_argument", `memLimitBytes must be a multiple of 1024 from ${min} to ${max}, got ${memLimitBytes}`);
  }
}

/**
 * Derives a 32-byte master key from `passphrase` and `salt` (16 random bytes,
 * kept beside the store; not secret). The passphrase is normalized to Unicode
 * NFC first, so the same visible text typed on two keyboards gives one key.
 * Equal inputs give equal keys; a wrong passphrase gives another key, which
 * openReplica refuses with "wrong_key". Blocks the thread for the whole
 * derivation: call it from a worker if the page must stay responsive.
 * Throws ConcordError("invalid_argument") for an empty or over-long
 * passphrase, a salt that is not 16 bytes, or parameters out of bounds.
 */
export async function deriveKeyFromPassphrase(
  passphrase: string,
  salt: Uint8Array,
  params: PassphraseKeyParams = defaultPassphraseKeyParams,
): Promise<Uint8Array> {
  if (typeof passphrase !== "string" || passphrase.length === 0) throw new ConcordError("invalid_argument", "a passphrase must be a non-empty string");
  const secret = new TextEncoder().encode(passphrase.normalize("NFC"));
  if (secret.length > maxPassphraseBytes) {
    throw new ConcordError("invalid_argument", `a passphrase is at most ${maxPassphraseBytes} bytes of UTF-8, got ${secret.length}`);
  }
  if (!(salt instanceof Uint8Array) || salt.length !== passphraseSaltBytes) {
    throw new ConcordError("invalid_argument", `a passphrase salt is ${passphraseSaltBytes} bytes`);
  }
  checkPassphraseKeyParams(params);
  const sodium = await loadSodium();
  try {
    return sodium.crypto_pwhash(keyBytes, secret, salt, params.opsLimit, params.memLimitBytes, sodium.crypto_pwhash_ALG_ARGON2ID13);
  } catch (cause) {
    // libsodium fails here only when it cannot get the memory.
    throw new ConcordError("unavailable", `Argon2id could not run with ${params.memLimitBytes} bytes of memory`, { cause });
  } finally {
    secret.fill(0);
  }
}
