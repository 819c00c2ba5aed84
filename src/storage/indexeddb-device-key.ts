/**
 * Where a browser app's master key comes from: two helpers that keep what
 * they need in the app's IndexedDB database (object store "device-keys",
 * beside the Store's entries) and hand back the 32 bytes for openReplica.
 *
 * - webCryptoDeviceKey: a random key, created on first use, kept wrapped
 *   (AES-256-GCM) under a non-extractable WebCrypto key that is kept beside
 *   it. No script can read the wrapping key's bytes, only use it in this
 *   origin.
 * - passphraseDeviceKey: Argon2id of the user's passphrase
 *   (src/crypto/passphrase-key.ts); only the random salt and the cost are
 *   kept. Nothing on the device opens the store without the passphrase.
 *
 * Both create their record on first use in one transaction that adds it only
 * if it is still missing, so two tabs starting at once agree on one key.
 */
import { deriveKeyFromPassphrase, checkPassphraseKeyParams, defaultPassphraseKeyParams, passphraseSaltBytes, type PassphraseKeyParams } from "../crypto/passphrase-key.ts";
import { ConcordError } from "../errors.ts";
import { type Random, systemRandom } from "../runtime/random.ts";
import { deviceKeysStoreName, indexedDbError, openDatabase, resolveFactory, transactionDone, type IndexedDbLocation } from "./indexeddb-database.ts";

export interface DeviceKeyOptions extends IndexedDbLocation {
  /** Source of the random key, salt and nonce. Default: the platform CSPRNG. */
  random?: Random | undefined;
}

export interface PassphraseDeviceKeyOptions extends DeviceKeyOptions {
  passphrase: string;
  /** Argon2id cost for a new database (an existing one keeps the cost it was created with). Default: defaultPassphraseKeyParams. */
  params?: Partial<PassphraseKeyParams> | undefined;
}

interface WrappedKeyRecord {
  format: 1;
  wrappingKey: CryptoKey;
  iv: Uint8Array;
  wrapped: Uint8Array;
}

interface PassphraseRecord {
  format: 1;
  salt: Uint8Array;
  opsLimit: number;
  memLimitBytes: number;
}

const masterKeyBytes = 32;
const ivBytes = 12;

/**
 * The device's master key, created on first use: 32 random bytes sealed with
 * AES-256-GCM under a non-extractable WebCrypto key, both stored in the
 * IndexedDB database `options.name`. Rejects with ConcordError "unavailable"
 * without WebCrypto or IndexedDB (or when the database is blocked),
 * "corrupt_record" when the stored record does not open (it was altered, or
 * the wrapping key is not the one it was sealed under).
 */
export async function webCryptoDeviceKey(options: DeviceKeyOptions): Promise<Uint8Array> {
  const factory = resolveFactory(options);
  const subtle = globalThis.crypto?.subtle;
  if (subtle === undefined) throw new ConcordError("unavailable", "WebCrypto is not available here (it needs a secure context: https or localhost)");
  const random = options.random ?? systemRandom;
  const aad = new TextEncoder().encode(`concord/device-key/${options.name}`);
  // Made before the transaction: IndexedDB commits a transaction at the first await on anything else.
  const wrappingKey = await subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  const fresh = random.bytes(masterKeyBytes);
  const iv = random.bytes(ivBytes);
  const wrapped = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: bufferOf(iv), additionalData: aad }, wrappingKey, bufferOf(fresh)));
  fresh.fill(0);
  const candidate: WrappedKeyRecord = { format: 1, wrappingKey, iv, wrapped };
  const record = await getOrAdd(factory, options.name, "webcrypto", candidate);
  if (!isWrappedKeyRecord(record)) throw corrupt(options.name, "the WebCrypto device-key record");
  try {
    const key = new Uint8Array(
      await subtle.decrypt({ name: "AES-GCM", iv: bufferOf(record.iv), additionalData: aad }, record.wrappingKey, bufferOf(record.wrapped)),
    );
    if (key.length !== masterKeyBytes) throw new Error(`it holds ${key.length} bytes`);
    return key;
  } catch (cause) {
    throw corrupt(options.name, "the WebCrypto device key", cause);
  }
}

/**
 * The device's master key from the user's passphrase: Argon2id with the salt
 * and cost kept in the IndexedDB database `options.name` (made on first use).
 * A wrong passphrase gives another key, which openReplica refuses with
 * "wrong_key". Rejects with ConcordError "invalid_argument" for a bad
 * passphrase or cost, "unavailable" without IndexedDB, "corrupt_record" when
 * the stored record is not one.
 */
export async function passphraseDeviceKey(options: PassphraseDeviceKeyOptions): Promise<Uint8Array> {
  const factory = resolveFactory(options);
  const params = { ...defaultPassphraseKeyParams, ...definedOnly(options.params ?? {}) };
  checkPassphraseKeyParams(params);
  if (typeof options.passphrase !== "string" || options.passphrase.length === 0) {
    throw new ConcordError("invalid_argument", "a passphrase must be a non-empty string");
  }
  const random = options.random ?? systemRandom;
  const candidate: PassphraseRecord = { format: 1, salt: random.bytes(passphraseSaltBytes), ...params };
  const record = await getOrAdd(factory, options.name, "passphrase", candidate);
  if (!isPassphraseRecord(record)) throw corrupt(options.name, "the passphrase record");
  try {
    checkPassphraseKeyParams(record);
  } catch (cause) {
    throw corrupt(options.name, "the passphrase record", cause);
  }
  return deriveKeyFromPassphrase(options.passphrase, record.salt, { opsLimit: record.opsLimit, memLimitBytes: record.memLimitBytes });
}

/** The record at `key`, or `candidate` after adding it there, in one readwrite transaction. */
async function getOrAdd(factory: IDBFactory, name: string, key: string, candidate: object): Promise<unknown> {
  const db = await openDatabase(factory, name);
  const action = `keeping the device key in the IndexedDB database "${name}"`;
  try {
    const tx = db.transaction(deviceKeysStoreName, "readwrite", { durability: "strict" });
    const done = transactionDone(tx, action);
    const records = tx.objectStore(deviceKeysStoreName);
    let record: unknown;
    const request = records.get(key);
    // In the request's own callback, not a promise continuation: the transaction is surely still active there.
    request.onsuccess = () => {
      record = request.result;
      if (record !== undefined) return;
      records.add(candidate, key);
      record = candidate;
    };
    await done;
    return record;
  } catch (cause) {
    throw indexedDbError(action, cause);
  } finally {
    db.close();
  }
}

function isWrappedKeyRecord(value: unknown): value is WrappedKeyRecord {
  const r = value as Partial<WrappedKeyRecord> | null;
  return (
    typeof r === "object" && r !== null && r.format === 1 && r.wrappingKey instanceof CryptoKey &&
    r.iv instanceof Uint8Array && r.iv.length === ivBytes && r.wrapped instanceof Uint8Array
  );
}

function isPassphraseRecord(value: unknown): value is PassphraseRecord {
  const r = value as Partial<PassphraseRecord> | null;
  return (
    typeof r === "object" && r !== null && r.format === 1 && r.salt instanceof Uint8Array && r.salt.length === passphraseSaltBytes &&
    typeof r.opsLimit === "number" && typeof r.memLimitBytes === "number"
  );
}

function corrupt(name: string, what: string, cause?: unknown): ConcordError {
  const reason = cause instanceof Error ? `: ${cause.message}` : "";
  return new ConcordError("corrupt_record", `${what} in the IndexedDB database "${name}" does not open${reason}`, { cause });
}

/** WebCrypto takes BufferSource views of ArrayBuffers. */
function bufferOf(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
}

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
