/**
 * Request/response between replicas. Frames are opaque, sealed bytes: a
 * transport never sees plaintext and needs no trust (HTTP, the in-memory
 * network, the simulator's network).
 */
export interface Transport {
  /**
   * Sends `frame` to `peer` and resolves with its response frame. Rejects with
   * ConcordError("unavailable") when the peer cannot be reached or does not
   * answer in time; the request may or may not have been delivered.
   */
  send(peer: string, frame: Uint8Array): Promise<Uint8Array>;
  /** Installs the handler for incoming frames (one per transport). */
  serve(handler: (frame: Uint8Array) => Promise<Uint8Array>): void;
}
