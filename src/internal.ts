/**
 * `concord/internal`: what the simulator, the tests and region wiring use and
 * the product API leaves out. Nothing here is stable: it changes with the
 * replication protocol and the simulator. Apps use `concord` (Node) or
 * `concord/browser`.
 *
 * - Replicas with deliberate defects for the simulator's checker (InjectedBugs).
 * - The replica's replication port: the Replica members tagged internal in their JSDoc
 *   (applyRemote, observe, inventory, ...) exist at run time but are left out of
 *   the package's declarations; their shapes are the types below.
 * - Wiring replication by hand (createGossip, region keys, the memory network).
 * - The simulator's memory disk with power-cut semantics (createMemoryDisk).
 */
export { openInternalReplica, Replica } from "./replica/replica.ts";
export type { DocStatus, InjectedBugs, InternalReplicaOptions, ReplicaEvent, Replication } from "./replica/types.ts";
export * from "./gossip/index.ts";
export { createMemoryDisk } from "./storage/memory-store.ts";
export type { CrashOptions, MemoryDisk, MemoryDiskOptions } from "./storage/memory-store.ts";
