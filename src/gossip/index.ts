/** Replication between regions: public surface of src/gossip. */
export { createGossip } from "./gossip.ts";
export type { Gossip, GossipDeps, GossipOptions } from "./gossip.ts";
export { createMemoryNetwork } from "./memory-network.ts";
export type { MemoryNetwork, MemoryNetworkOptions } from "./memory-network.ts";
export { derivePairKey, generateRegionKeyPair, regionPublicKey } from "./region-keys.ts";
export type { RegionKeyPair } from "./region-keys.ts";
export type { Transport } from "./transport.ts";
export type { RoundReport } from "./anti-entropy.ts";
export type { FrameRejectionEvent } from "./frame-refusal.ts";
