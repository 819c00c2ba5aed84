/**
 * A socket's message rate limit: a token bucket refilled at `perSecond` up to
 * `burst`, on the region's clock. One per socket, for every stock protocol.
 */
import type { Clock } from "../runtime/clock.ts";

export class MessageBucket {
  private tokens: number;
  private at: number;

  constructor(private readonly clock: Clock, private readonly perSecond: number, private readonly burst: number) {
    this.tokens = burst;
    this.at = clock.now();
  }

  /** Takes one message's token; false when the socket is over its rate. */
  take(): boolean {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
