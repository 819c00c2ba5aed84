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
  /** Rejected frames: peer (or "?" when unknown) → reason → count. */
  rejected(): Record<string, Partial<Record<FrameRejection, number>>>;
  readonly maxFrameBytes: number;
}

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
    open(frame, expect) {
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
      if (!(supportedVersions as readonly number[]).includes(header.version)) {
        throw reject(header.sender, "unsupported_version", `protocol version ${header.version} is not supported (this region speaks ${supportedVersions.join(", ")})`);
      }
      let window = windows.get(header.sender);
      if (!window) windows.set(header.sender, (window = createReplayWindow()));
      // Check before decrypting (cheap), mark only after the MAC passed: a forged frame must not burn a counter.
      if (!window.check(header.counter)) throw reject(header.sender, "replayed", `a replayed or too old frame from "${header.sender}"`);
      let payload: Uint8Array;
      try {
        payload = openFrame(frame, headerBytes, key);
      } catch (error) {
        throw reject(header.sender, "bad_mac", (error as Error).message);
      }
      if (expect && !expect.includes(header.kind)) {
        throw reject(header.sender, "unexpected", `a ${header.kind} frame from "${header.sender}" where a ${expect.join(" or ")} belongs`);
      }
      window.accept(header.counter);
      return { header, payload };
    },
    rejected: () => structuredClone(rejections),
  };
}
