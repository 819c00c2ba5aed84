/**
 * The gossip wire format, versions 2 and 3. Every frame between two regions:
 *
 *   "CC" · version u8 · kind u8 · sender (u8 length + UTF-8) · receiver (same)
 *   · counter u64 · replyTo u64 · nonce 24 · XChaCha20-Poly1305(body)
 *
 *   body = senderEpoch u32 · receiverEpoch u32 · message (messages.ts)
 *   version 3: the message is compressed where that pays (frame-compression.ts)
 *
 *   version 4: body = senderEpoch u32 · receiverEpoch u32 · lane floor u32
 *   · message; the receiver keeps a replay window per sending lane, the
 *   counter's high half, and refuses lanes below the floor (secure-channel.ts)
 *
 * The header up to the nonce is the associated data: sender, receiver,
 * version, counter and the request a response answers are all authenticated,
 * so a frame can be neither redirected, downgraded nor replayed unnoticed.
 * The epochs are the sender's boot epoch and the receiver's as the sender
 * last heard it (0: not heard yet): a request is bound to one boot of its
 * receiver, so frames captured before a restart are refused after it
 * (secure-channel.ts explains why this, not a persisted window).
 *
 * Version rules: every version keeps this clear header and AEAD layout (what
 * lies inside the AEAD may change), so a region authenticates any version's
 * frame before judging the version, and can tell an authentic peer which
 * versions it speaks. Version 1 (no epochs in the body) never shipped and is
 * not spoken. A region sends a peer the newest version it speaks until that
 * peer refuses it as unsupported, and answers each peer in the version the
 * peer last used (secure-channel.ts), so regions on 2 and on 3 talk during a
 * rolling upgrade.
 */
import { sodium } from "../crypto/sodium.ts";
import { ConcordError } from "../errors.ts";
import type { Random } from "../runtime/random.ts";

export const frameMagic = [0x43, 0x43] as const;
/** Versions this build speaks, oldest first. */
export const supportedVersions = [2, 3, 4] as const;
export const currentVersion = 4;
/** The first version whose messages may be compressed. */
export const compressedSince = 3;
/**
 * The first version whose receiver keeps a replay window per sending lane (the counter's high half)
 * instead of one per sender, so several processes of one region can send, and whose body carries the
 * sender's lane floor (secure-channel.ts).
 */
export const lanesSince = 4;
export const frameKinds = { request: 1, response: 2, refusal: 3 } as const;
export type FrameKind = keyof typeof frameKinds;
const nonceBytes = 24;
const tagBytes = 16;
const maxIdBytes = 64;
/**
 * Bytes that always hold a whole clear header (magic, version, kind, both ids at
 * their longest, counter, replyTo) plus nonce and tag: what a receiver reads
 * of a frame to screen it before reading the rest.
 */
export const screenBytes = 4 + 2 * (1 + maxIdBytes) + 16 + nonceBytes + tagBytes;

export interface FrameHeader {
  version: number;
  kind: FrameKind;
  sender: string;
  receiver: string;
  counter: bigint;
  replyTo: bigint;
}

/** Why a frame was refused; each is counted per peer. */
export type FrameRejection =
  | "truncated" | "oversized" | "bad_magic" | "unsupported_version" | "unknown_sender" | "wrong_receiver" | "bad_mac" | "replayed" | "unexpected"
  | "stale_epoch" // a request made for another boot of this region: captured before a restart, or from a peer that has not heard of it yet
  | "busy"; // too many frames arriving at once (from one claimed sender, or in all): refused before being read

export function frameError(reason: FrameRejection, message: string): ConcordError {
  return new ConcordError(reason === "unknown_sender" ? "unknown_peer" : "bad_frame", message, { details: { reason } });
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function encodeHeader(h: FrameHeader): Uint8Array {
  const sender = encoder.encode(h.sender);
  const receiver = encoder.encode(h.receiver);
  if (sender.length > maxIdBytes || receiver.length > maxIdBytes) throw new ConcordError("invalid_argument", "a region id is at most 64 bytes");
  const out = new Uint8Array(4 + 1 + sender.length + 1 + receiver.length + 16);
  const view = new DataView(out.buffer);
  out.set(frameMagic, 0);
  out[2] = h.version;
  out[3] = frameKinds[h.kind];
  let at = 4;
  out[at++] = sender.length;
  out.set(sender, at);
  at += sender.length;
  out[at++] = receiver.length;
  out.set(receiver, at);
  at += receiver.length;
  view.setBigUint64(at, h.counter);
  view.setBigUint64(at + 8, h.replyTo);
  return out;
}

export function sealFrame(header: FrameHeader, payload: Uint8Array, key: Uint8Array, random: Random): Uint8Array {
  const aad = encodeHeader(header);
  const nonce = random.bytes(nonceBytes);
  const ciphertext = sodium().crypto_aead_xchacha20poly1305_ietf_encrypt(payload, aad, null, nonce, key);
  const out = new Uint8Array(aad.length + nonceBytes + ciphertext.length);
  out.set(aad, 0);
  out.set(nonce, aad.length);
  out.set(ciphertext, aad.length + nonceBytes);
  return out;
}

/** Reads the clear header; throws bad_frame on anything malformed. Authenticates nothing yet. */
export function readHeader(frame: Uint8Array, maxFrameBytes: number): { header: FrameHeader; headerBytes: number } {
  if (frame.length > maxFrameBytes) throw frameError("oversized", `a frame of ${frame.length} bytes is over the ${maxFrameBytes}-byte limit`);
  if (frame.length < 4) throw frameError("truncated", "a frame is truncated");
  if (frame[0] !== frameMagic[0] || frame[1] !== frameMagic[1]) throw frameError("bad_magic", "not a Concord gossip frame");
  const kind = (Object.keys(frameKinds) as FrameKind[]).find((k) => frameKinds[k] === frame[3]);
  if (!kind) throw frameError("unexpected", `unknown frame kind ${frame[3]}`);
  let at = 4;
  const readId = () => {
    const length = frame[at];
    if (length === undefined || at + 1 + length > frame.length) throw frameError("truncated", "a frame is truncated");
    try {
      return decoder.decode(frame.subarray(at + 1, (at += 1 + length)));
    } catch {
      throw frameError("unexpected", "a region id in a frame is not UTF-8");
    }
  };
  const sender = readId();
  const receiver = readId();
  if (at + 16 + nonceBytes + tagBytes > frame.length) throw frameError("truncated", "a frame is truncated");
  const view = new DataView(frame.buffer, frame.byteOffset, frame.length);
  const header: FrameHeader = {
    version: frame[2]!, kind, sender, receiver,
    counter: view.getBigUint64(at), replyTo: view.getBigUint64(at + 8),
  };
  return { header, headerBytes: at + 16 };
}

/** Authenticates and decrypts; throws bad_frame "bad_mac" if the frame was forged or altered. */
export function openFrame(frame: Uint8Array, headerBytes: number, key: Uint8Array): Uint8Array {
  try {
    return sodium().crypto_aead_xchacha20poly1305_ietf_decrypt(
      null,
      frame.subarray(headerBytes + nonceBytes),
      frame.subarray(0, headerBytes),
      frame.subarray(headerBytes, headerBytes + nonceBytes),
      key,
    );
  } catch {
    throw frameError("bad_mac", "a frame failed authentication (forged, altered, or from a region with another key)");
  }
}

/** The boot epochs at the start of every frame's body (see the file header). */
export interface FrameEpochs {
  /** The sender's boot epoch (a region of several processes: the highest any of them drew). */
  sender: number;
  /** The receiver's boot epoch as the sender knows it; 0 when it does not know it yet. */
  receiver: number;
  /**
   * Version 4 on: the sender's oldest lane still in use (secure-channel.ts); frames of older lanes
   * are refused as replayed. Absent before version 4.
   */
  floor?: number;
}

/** A frame body: the epochs (and from version 4 the lane floor), then the message. */
export function encodeFrameBody(epochs: FrameEpochs, message: Uint8Array, version = 3): Uint8Array {
  const epochBytes = version >= lanesSince ? 12 : 8;
  const out = new Uint8Array(epochBytes + message.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, epochs.sender);
  view.setUint32(4, epochs.receiver);
  if (version >= lanesSince) view.setUint32(8, epochs.floor ?? epochs.sender);
  out.set(message, epochBytes);
  return out;
}

/** Splits an opened body of `version`; throws bad_frame "truncated" when it is too short to hold the epochs. */
export function decodeFrameBody(body: Uint8Array, version = 3): { epochs: FrameEpochs; message: Uint8Array } {
  const epochBytes = version >= lanesSince ? 12 : 8;
  if (body.length < epochBytes) throw frameError("truncated", "a frame body is too short to hold its epochs");
  const view = new DataView(body.buffer, body.byteOffset, body.length);
  const epochs: FrameEpochs = { sender: view.getUint32(0), receiver: view.getUint32(4) };
  if (version >= lanesSince) epochs.floor = view.getUint32(8);
  return { epochs, message: body.subarray(epochBytes) };
}
