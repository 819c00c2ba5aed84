/**
 * Concord's embedded library, for any JavaScript runtime (browser or Node).
 * It imports no Node built-ins; in Node, `concord` resolves to src/node.ts,
 * which adds the LMDB-backed `openReplica({ dir })`.
 */
export { ConcordError, errorCodes, isConcordError } from "./errors.ts";
export type { ErrorCode } from "./errors.ts";
export { openReplica, Replica } from "./replica/replica.ts";
export type {
  ChangeListener, DocChange, DocView, ListOptions, ReplicaOptions, ReplicaStats, WriteAck,
} from "./replica/types.ts";
export type { DocKind, EngineLimits } from "./doc/engine.ts";
export { docKinds } from "./doc/engine.ts";
export type { Store, StoreWrite } from "./storage/store.ts";
export { createMemoryDisk, createMemoryStore } from "./storage/memory-store.ts";
export type { Clock, Random } from "./runtime/index.ts";
export { createManualClock, createSeededRandom, systemClock, systemRandom } from "./runtime/index.ts";
export { rotateMasterKey } from "./crypto/keyring.ts";
export { createIndexedDbStore } from "./storage/indexeddb-store.ts";
export type { IndexedDbStoreOptions } from "./storage/indexeddb-store.ts";
export { passphraseDeviceKey, webCryptoDeviceKey } from "./storage/indexeddb-device-key.ts";
export type { DeviceKeyOptions, PassphraseDeviceKeyOptions } from "./storage/indexeddb-device-key.ts";
export { defaultPassphraseKeyParams, deriveKeyFromPassphrase } from "./crypto/passphrase-key.ts";
export type { PassphraseKeyParams } from "./crypto/passphrase-key.ts";
