/**
 * One document's y-websocket sockets on this region: who is connected, the
 * awareness states they (and other regions' sockets) announced, and the one
 * replica subscription that turns every change of the document, local or
 * replicated, into an update message for every socket but the one that sent
 * it, as soon as it is applied (the sender's echo follows once it is durable:
 * see yjs-connection.ts).
 * Awareness lives in memory only and follows y-protocols' rules: an entry
 * wins with a higher clock, or with an equal clock when it removes the state.
 */
import { awarenessMessage, decodeAwareness, encodeAwareness, type AwarenessEntry } from "./yjs-socket-codec.ts";

/** What a room needs of a connection. */
export interface RoomMember {
  send(message: Uint8Array): void;
  /** Awareness client ids this socket introduced (removed when it closes); the room makes the set on the first one. */
  clientIds: Set<number> | undefined;
}

interface Presence {
  clock: number;
  state: string;
  /** Clock time after which a state relayed from another region is forgotten (Infinity for local sockets). */
  expiresAt: number;
}

export class YjsRoom {
  readonly members = new Set<RoomMember>();
  private readonly presence = new Map<number, Presence>();
  /** Which socket sent an update that is being written (by the update's bytes object, as the replica hands it on). */
  private readonly senders = new WeakMap<Uint8Array, RoomMember>();

  constructor(readonly id: string, private readonly unsubscribe: () => void) {}

  broadcast(message: Uint8Array): void {
    for (const member of this.members) member.send(message);
  }

  /** Notes that `member` is writing `update`, so that relaying it skips `member`. */
  sending(update: Uint8Array, member: RoomMember): void {
    this.senders.set(update, member);
  }

  /** Sends `message` (carrying `update`) to every socket but the one that sent `update`, if one here did. */
  relay(update: Uint8Array, message: Uint8Array): void {
    const sender = this.senders.get(update);
    for (const member of this.members) if (member !== sender) member.send(message);
  }

  /**
   * Applies awareness entries from a local socket (`from`) or another region
   * (`from` undefined, kept until `expiresAt`); returns the entries that
   * changed something, which the caller relays.
   */
  applyAwareness(entries: readonly AwarenessEntry[], from: RoomMember | undefined, expiresAt: number): AwarenessEntry[] {
    const accepted: AwarenessEntry[] = [];
    for (const entry of entries) {
      const known = this.presence.get(entry.clientId);
      const removal = entry.state === "null";
      const newer = !known || entry.clock > known.clock || (entry.clock === known.clock && removal && known.state !== "null");
      if (!newer) continue;
      this.presence.set(entry.clientId, { clock: entry.clock, state: entry.state, expiresAt });
      if (from && !removal) (from.clientIds ??= new Set()).add(entry.clientId);
      accepted.push(entry);
    }
    if (accepted.length > 0) this.broadcast(awarenessMessage(encodeAwareness(accepted)));
    return accepted;
  }

  /** Awareness relayed from another region (already checked there, checked again: never trust a wire). */
  applyRemoteAwareness(update: Uint8Array, expiresAt: number): void {
    let entries: AwarenessEntry[];
    try {
      entries = decodeAwareness(update);
    } catch {
      return;
    }
    this.applyAwareness(entries, undefined, expiresAt);
  }

  /** Every live state (for a new socket and for query-awareness), or undefined when there is none. */
  currentAwareness(now: number): Uint8Array | undefined {
    const entries: AwarenessEntry[] = [];
    for (const [clientId, p] of this.presence) {
      if (p.expiresAt <= now) this.presence.delete(clientId);
      else if (p.state !== "null") entries.push({ clientId, clock: p.clock, state: p.state });
    }
    return entries.length > 0 ? awarenessMessage(encodeAwareness(entries)) : undefined;
  }

  /** Removes a socket; its awareness states become null (clock + 1) for everyone else. Returns those removals. */
  leave(member: RoomMember): AwarenessEntry[] {
    this.members.delete(member);
    const removals: AwarenessEntry[] = [];
    for (const clientId of member.clientIds ?? []) {
      const known = this.presence.get(clientId);
      if (!known || known.state === "null") continue;
      removals.push({ clientId, clock: known.clock + 1, state: "null" });
    }
    member.clientIds = undefined;
    return removals.length > 0 ? this.applyAwareness(removals, undefined, Infinity) : [];
  }

  get empty(): boolean {
    return this.members.size === 0;
  }

  close(): void {
    this.unsubscribe();
  }
}
