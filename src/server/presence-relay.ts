/**
 * The port through which socket protocols hand presence (Yjs awareness,
 * Automerge ephemeral messages) to the other regions' sockets of the same
 * document. Best effort, in memory only: a lost message is renewed by the
 * client's own periodic re-announcement, and receivers expire what they got
 * after a TTL. presence-link.ts carries it between regions.
 */
export type PresenceProtocol = "yjs" | "automerge";

export interface PresenceRelay {
  /** Sends `payload` about `docId` to every other region now; never stored, never retried. */
  publish(protocol: PresenceProtocol, docId: string, payload: Uint8Array): void;
  /** Registers the one handler of a protocol's presence from other regions. */
  onMessage(protocol: PresenceProtocol, handler: (docId: string, payload: Uint8Array, fromRegion: string) => void): void;
}
