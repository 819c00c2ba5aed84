/**
 * Finding 5: one chunked body claiming to be from the real peer a (a valid
 * clear header, then junk) streamed to /internal/gossip until the region
 * answers (256 MiB at most; 1 GiB with --full); then unauthenticated bodies
 * held open, each declaring 32 MiB, half claiming a, half garbage. RSS of this
 * process before, at the peak, and after: the regions and the attacking
 * client run in it, so the client's own buffers count too. "accepted": held
 * bodies the region kept reading (within its per-sender and total caps).
 */
import { frameKinds } from "../../src/gossip/frame.ts";
import { holdBody, streamUntilAnswered } from "./raw-http.ts";
import { startProbeRegions } from "./regions.ts";
import { newRow, rssMiB, type Probe } from "./row.ts";

/** A clear header claiming sender a, receiver b, then zeros: passes the screen, fails its MAC only once read whole. */
function claimedHeader(size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set([0x43, 0x43, 2, frameKinds.request, 1, 0x61, 1, 0x62]);
  return out;
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 500));

export const probe5: Probe = async ({ full }) => {
  const row = newRow(5, "held and huge /internal/gossip bodies");
  const regions = await startProbeRegions(["a", "b"]);
  try {
    const url = regions.get("b").url;
    (globalThis as { gc?: () => void }).gc?.();
    const before = rssMiB();
    let peak = before;
    const sample = setInterval(() => (peak = Math.max(peak, rssMiB())), 50);
    const streamed = await streamUntilAnswered(url, "/internal/gossip", claimedHeader(1 << 20), new Uint8Array(1 << 20).fill(9), full ? 1 << 30 : 256 << 20);
    const streamPeak = peak;
    const heldCount = full ? 32 : 16;
    const held = Array.from({ length: heldCount }, (_, i) => holdBody(url, "/internal/gossip", 32 << 20, i % 2 === 0 ? claimedHeader(64 << 10) : new Uint8Array(64 << 10).fill(7)));
    // Until the answers stop coming (a second without a new one): a loaded machine answers slowly.
    for (let answered = -1, now = 0; answered !== now; ) {
      answered = now;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      now = held.filter((h) => h.status() !== undefined).length;
    }
    const answeredWhileHeld = held.filter((h) => h.status() !== undefined).map((h) => h.status()!);
    for (const h of held) h.req.destroy();
    await Promise.all(held.map((h) => h.answered));
    clearInterval(sample);
    await settle();
    (globalThis as { gc?: () => void }).gc?.();
    const after = rssMiB();
    row.tried = heldCount + 1;
    // The stream counts as refused when answered 4xx, or cut off (no answer read) once past the frame limit.
    const streamRefused = (streamed.status >= 400 && streamed.status < 500) || (streamed.status === 0 && streamed.sent > 32 << 20);
    row.refused = answeredWhileHeld.filter((s) => s >= 400 && s < 500).length + (streamRefused ? 1 : 0);
    row.crashed = answeredWhileHeld.filter((s) => s >= 500).length + (streamed.status >= 500 ? 1 : 0);
    row.accepted = row.tried - row.refused - row.crashed;
    const healthy = await regions.api("b", "/readyz");
    row.poisoned = healthy.ok ? 0 : 1;
    row.notes = `${heldCount} bodies declaring 32 MiB held open (half claiming to be a): ${answeredWhileHeld.length} answered at once (${[...new Set(answeredWhileHeld)].join("/")}), ${heldCount - answeredWhileHeld.length} held until the client gave up; ` +
      `first, a chunked body claiming a: ${streamed.status === 0 ? "connection closed, no answer read," : `answered ${streamed.status}`} after ${Math.round(streamed.sent / 2 ** 20)} MiB sent (RSS peak ${streamPeak}); RSS ${before} → peak ${peak} → after ${after} MiB (+${peak - before} at peak); /readyz ${healthy.status}`;
  } finally {
    await regions.close();
  }
  return row;
};
