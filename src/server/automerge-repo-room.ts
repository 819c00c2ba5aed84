/**
 * One Automerge document as this region's automerge-repo peers see it: a
 * mirror of the replica's document (loaded on first use, kept current from
 * the replica's change feed), one sync state per (peer, document), and the
 * work on it run one step at a time. Changes a peer sends are taken out of
 * the mirror after the sync message is received and written through
 * `replica.update` (validated, durable, gossiped); if the replica refuses
 * them, the mirror is dropped and reloaded, so it never holds what the
 * replica does not.
 */
import * as Automerge from "@automerge/automerge";
import { ConcordError, isConcordError } from "../errors.ts";
import { invalidUpdate } from "../doc/engine-errors.ts";
import type { Replica } from "../replica/replica.ts";

export type AutomergeReplicaPort = Pick<Replica, "update" | "head" | "create" | "encodeState" | "subscribe">;

/** What a room needs of a connection. */
export interface RepoPeer {
  readonly peerId: string;
  readonly canWrite: boolean;
  /** Sends a message to this peer (targetId and senderId are filled in). */
  send(message: Record<string, unknown>): void;
}

export interface RoomDeps {
  replica: AutomergeReplicaPort;
  /** Resolves once the other regions were asked for documents (one anti-entropy round each). */
  askPeers(): Promise<void>;
}

const concat = (chunks: Uint8Array[]) => {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
};

export class AutomergeRoom {
  readonly peers = new Set<RepoPeer>();
  private readonly syncStates = new Map<RepoPeer, Automerge.SyncState>();
  private doc: Automerge.Doc<unknown> | undefined;
  private chain: Promise<void> = Promise.resolve();
  private readonly unsubscribe: () => void;

  constructor(readonly id: string, private readonly deps: RoomDeps) {
    this.unsubscribe = deps.replica.subscribe(id, (change) => {
      void this.run(async () => {
        if (!this.doc) return;
        this.doc = Automerge.loadIncremental(this.doc, change.delta);
        this.syncAll();
      }).catch(() => (this.doc = undefined));
    });
  }

  /** Runs `work` after everything queued before it; its failure is the caller's. */
  run(work: () => Promise<void>): Promise<void> {
    const result = this.chain.then(work);
    this.chain = result.catch(() => {});
    return result;
  }

  /**
   * Handles a `sync` or `request` from `peer`. A document missing here is
   * created from a writer's `sync` (automerge-repo's Repo.create), and
   * answered with `doc-unavailable` otherwise, once the other regions were
   * asked. Throws ConcordError for changes the replica refuses.
   */
  receive(peer: RepoPeer, type: "sync" | "request", data: Uint8Array): Promise<void> {
    return this.run(async () => {
      this.peers.add(peer);
      if (!this.doc && !(await this.load())) {
        if (type === "sync" && peer.canWrite) await this.createHere();
        else {
          await this.deps.askPeers();
          if (!(await this.load())) return peer.send({ type: "doc-unavailable", documentId: this.id });
        }
      }
      const before = Automerge.getHeads(this.doc!);
      let next: Automerge.Doc<unknown>;
      let state: Automerge.SyncState;
      try {
        [next, state] = Automerge.receiveSyncMessage(this.doc!, this.syncStates.get(peer) ?? Automerge.initSyncState(), data);
      } catch (cause) {
        this.reset(peer);
        throw invalidUpdate("malformed", "an Automerge sync message does not decode", { cause });
      }
      this.doc = next;
      this.syncStates.set(peer, state);
      const changes = Automerge.getChangesSince(next, before);
      if (changes.length > 0) {
        if (!peer.canWrite) {
          this.reset(peer);
          throw new ConcordError("forbidden", "this token is read-only: changes are refused");
        }
        try {
          await this.deps.replica.update(this.id, concat(changes));
        } catch (error) {
          this.reset(peer);
          throw error;
        }
      }
      this.syncAll();
    });
  }

  /** Forgets a peer (its socket closed); true when the room has no peer left. */
  leave(peer: RepoPeer): boolean {
    this.peers.delete(peer);
    this.syncStates.delete(peer);
    return this.peers.size === 0;
  }

  close(): void {
    this.unsubscribe();
    this.doc = undefined;
  }

  private syncAll(): void {
    if (!this.doc) return;
    for (const peer of this.peers) {
      const [state, message] = Automerge.generateSyncMessage(this.doc, this.syncStates.get(peer) ?? Automerge.initSyncState());
      this.syncStates.set(peer, state);
      if (message) peer.send({ type: "sync", documentId: this.id, data: message });
    }
  }

  /** Drops the mirror (it may hold what the replica refused) and the peer's sync state. */
  private reset(peer: RepoPeer): void {
    this.doc = undefined;
    this.syncStates.delete(peer);
  }

  private async load(): Promise<boolean> {
    try {
      const head = await this.deps.replica.head(this.id);
      if (head.kind !== "automerge") return false;
      this.doc = Automerge.load(await this.deps.replica.encodeState(this.id));
      return true;
    } catch (error) {
      if (isConcordError(error, "not_found")) return false;
      throw error;
    }
  }

  private async createHere(): Promise<void> {
    await this.deps.replica.create(this.id, "automerge").catch((error: unknown) => {
      if (!isConcordError(error, "exists")) throw error;
    });
    if (!(await this.load())) throw invalidUpdate("malformed", "the document could not be created as an Automerge document");
  }
}
