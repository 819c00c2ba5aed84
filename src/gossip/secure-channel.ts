/**
 * Seals and opens frames between this region and its peers: pair keys,
 * per-pair counters, replay windows, version checks, and a count of every
 * rejected frame by peer and reason. No state changes on a rejected frame.
 *
 * Counters are `epoch · 2^32 + n`, one sequence per peer: the epoch is a boot
 * epoch the replica persists (at least the boot's wall-clock second), so a
 * restarted or rebuilt region's frames are newer than all it sent before. Per
 * peer, because the receiver's replay window is 1,024 counters wide: with one
 * sequence shared by all peers, traffic to the others would push two frames to
 * one peer that arrive reordered out of each other's window.
 */
import type { Random } from "../runtime/random.ts";
import { derivePairKey, type RegionKeyPair } from "./region-keys.ts";
import {
  currentVersion, frameError, openFrame, readHeader, sealFrame, supportedVersions,
  type FrameHeader, type FrameKind, type FrameRejection,
} from "./frame.ts";
import { createReplayWindow, type ReplayWindow } from "./replay-window.ts";

export interface ChannelOptions {
  self: string;
  keyPair: RegionKeyPair;
  /** Peer id → its X25519 public key, from the topology. */
  peers: ReadonlyMap<string, Uint8Array>;
  /** A number that grows on every restart of this region (persisted by the caller). */
  epoch: number;
  random: Random;
  /** Largest frame accepted or sent. Default 32 MiB. */
  maxFrameBytes?: number;
}

export interface OpenedFrame {
  header: FrameHeader;
  payload: Uint8Array;
}

export interface SecureChannel {
  seal(peer: string, kind: FrameKind, payload: Uint8Array, replyTo?: bigint): { frame: Uint8Array; counter: bigint };
  /**
   * Opens a frame addressed to this region. Throws ConcordError
   * "bad_frame"/"unknown_peer" (counted); with `expect`, a frame of another
   * kind is refused too ("unexpected"), after authentication and without
   * marking its counter seen.
   */
  open(frame: Uint8Array, expect?: readonly FrameKind[]): OpenedFrame;
  /**
   * The highest counter accepted from `peer`, told to it when it sends a frame
   * this side refuses as replayed (see skipPast). Undefined before its first.
   */
  highestSeen(peer: string): bigint | undefined;
  /**
   * Moves the counters sent to `peer` past `counter`, the highest it says it
   * saw, when our frames are refused as replayed: another process on our data
   * directory used our counters, or a restore or clock step reused an epoch.
   * Only forward, and only as far as counters that were really sent (the peer
   * saw them): whoever forces a skip can never push us further than that.
   * Call it only with a counter from an authenticated refusal. Returns whether
   * the counter moved.
   */
  skipPast(peer: string, counter: bigint): boolean;
  /**
   * Screens the first bytes of a frame still arriving (at least `screenBytes`,
   * or the whole frame if shorter): the same header checks as `open` (magic,
   * kind, a sender in the topology, this region as receiver), so a frame from
   * a non-peer is refused, and counted, before its body is read. Returns the
   * claimed header: claimed only, nothing is authenticated yet.
   */
  screen(prefix: Uint8Array): FrameHeader;
  /**
   * Counts a frame refused before it could be opened (its body over the size
   * limit, say, refused by the HTTP route while it was still arriving). Returns
   * the error to answer with.
   */
  refused(peer: string, reason: FrameRejection, message: string): Error;
  /** Rejected frames: peer (or "?" when unknown) → reason → count. */
  rejected(): Record<string, Partial<Record<FrameRejection, number>>>;
  readonly maxFrameBytes: number;
}

const maxCounter = (1n << 64n) - (1n << 32n);

export function createSecureChannel(options: ChannelOptions): SecureChannel {
  const maxFrameBytes = options.maxFrameBytes ?? 32 * 1024 * 1024;
  const keys = new Map<string, Uint8Array>();
  for (const [peer, publicKey] of options.peers) keys.set(peer, derivePairKey(options.keyPair, publicKey));
  const windows = new Map<string, ReplayWindow>();
  const rejections: Record<string, Partial<Record<FrameRejection, number>>> = {};
  const first = BigInt(options.epoch) << 32n;
  const sent = new Map<string, bigint>();

  const reject = (peer: string, reason: FrameRejection, message: string) => {
    const counts = (rejections[peer] ??= {});
    counts[reason] = (counts[reason] ?? 0) + 1;
    return frameError(reason, message);
  };

  /** The clear header of a frame from a known peer to this region, with that peer's key; counted rejections otherwise. */
  const addressed = (frame: Uint8Array) => {
    let parsed: ReturnType<typeof readHeader>;
    try {
      parsed = readHeader(frame, maxFrameBytes);
    } catch (error) {
      const reason = ((error as { details?: { reason?: FrameRejection } }).details?.reason ?? "truncated");
      throw reject("?", reason, (error as Error).message);
    }
    const { header, headerBytes } = parsed;
    const key = keys.get(header.sender);
    if (!key) throw reject("?", "unknown_sender", `a frame from "${header.sender}", which is not in the topology`);
    if (header.receiver !== options.self) {
      throw reject(header.sender, "wrong_receiver", `a frame for "${header.receiver}" reached "${options.self}"`);
    }
    return { header, headerBytes, key };
  };

  return {
    maxFrameBytes,
    seal(peer, kind, payload, replyTo = 0n) {
      const key = keys.get(peer);
      if (!key) throw frameError("unknown_sender", `region "${peer}" is not in the topology`);
      const counter = (sent.get(peer) ?? first) + 1n;
      sent.set(peer, counter);
      const header: FrameHeader = { version: currentVersion, kind, sender: options.self, receiver: peer, counter, replyTo };
      return { frame: sealFrame(header, payload, key, options.random), counter };
    },
    screen: (prefix) => addressed(prefix).header,
    open(frame, expect) {
      const { header, headerBytes, key } = addressed(frame);
      let window = windows.get(header.sender);
      if (!window) windows.set(header.sender, (window = createReplayWindow()));
      // Mark the counter only after the MAC passed: a forged frame must not burn a counter. A replay is
      // authenticated too before it is refused as one, because the refusal tells the sender how far to skip.
      const fresh = window.check(header.counter);
      let payload: Uint8Array;
      try {
        payload = openFrame(frame, headerBytes, key);
      } catch (error) {
        throw reject(header.sender, "bad_mac", (error as Error).message);
      }
      // A version is judged only once the MAC passed (newer versions keep this header and AEAD layout for
      // that): an authentic newer peer gets a sealed refusal listing our versions, a forgery gets nothing.
      if (!(supportedVersions as readonly number[]).includes(header.version)) {
        throw reject(header.sender, "unsupported_version", `protocol version ${header.version} is not supported (this region speaks ${supportedVersions.join(", ")})`);
      }
      if (!fresh) throw reject(header.sender, "replayed", `a replayed or too old frame from "${header.sender}"`);
      if (expect && !expect.includes(header.kind)) {
        throw reject(header.sender, "unexpected", `a ${header.kind} frame from "${header.sender}" where a ${expect.join(" or ")} belongs`);
      }
      window.accept(header.counter);
      return { header, payload };
    },
    highestSeen(peer) {
      const highest = windows.get(peer)?.highest();
      return highest === undefined || highest < 0n ? undefined : highest;
    },
    skipPast(peer, counter) {
      const current = sent.get(peer) ?? first;
      // The top epoch stays free: a counter there would leave no room to move on.
      if (!keys.has(peer) || counter <= current || counter >= maxCounter) return false;
      sent.set(peer, counter);
      return true;
    },
    refused: (peer, reason, message) => reject(peer, reason, message),
    rejected: () => structuredClone(rejections),
  };
}
