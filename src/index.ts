/**
 * Concord's embedded library, for any JavaScript runtime (browser or Node):
 * the package entry `concord/browser`. It imports no Node built-ins; in Node,
 * `concord` resolves to src/node.ts, which adds the LMDB-backed
 * `openReplica({ dir })`. This is the product API: what only the simulator,
 * the tests and replication use is in src/internal.ts (`concord/internal`).
 */
export { ConcordError, errorCodes, isConcordError } from "./errors.ts";
export type { ErrorCode } from "./errors.ts";
export { openReplica } from "./replica/replica.ts";
export type { Replica } from "./replica/replica.ts";
export type {
  ChangeListener, CreateItem, CreateOptions, CreateResult, DeleteOptions, DocChange, DocHead, DocView, Durability, ListOptions, PeerReplicationStats, PendingDeltaStats, ReadOptions,
  ReplicaOptions, ReplicaStats, ReplicationStats, WriteAck, WriteOptions,
} from "./replica/types.ts";
export type { DocKind, EngineLimits } from "./doc/engine.ts";
export { docKinds } from "./doc/engine.ts";
export type { JsonOp } from "./doc/json-ops.ts";
export type { Condition, QueryOp, QueryOptions, QueryPage } from "./query/query-spec.ts";
export type { IndexDefinition, IndexKind, IndexType, IndexValue } from "./query/index-definition.ts";
export type { IndexBuildStatus } from "./query/index-builder.ts";
export type { IndexInfo } from "./replica/replica-indexes.ts";
export type { Store, StoreSnapshot, StoreWrite } from "./storage/store.ts";
export { createMemoryStore } from "./storage/memory-store.ts";
export type { Clock, Random } from "./runtime/index.ts";
export { createManualClock, createSeededRandom, systemClock, systemRandom } from "./runtime/index.ts";
export { rotateMasterKey } from "./crypto/keyring.ts";
export { createIndexedDbStore } from "./storage/indexeddb-store.ts";
export type { IndexedDbStoreOptions } from "./storage/indexeddb-store.ts";
export { passphraseDeviceKey, webCryptoDeviceKey } from "./storage/indexeddb-device-key.ts";
export type { DeviceKeyOptions, PassphraseDeviceKeyOptions } from "./storage/indexeddb-device-key.ts";
export { defaultPassphraseKeyParams, deriveKeyFromPassphrase } from "./crypto/passphrase-key.ts";
export type { PassphraseKeyParams } from "./crypto/passphrase-key.ts";
