/**
 * The client's side of the sync socket's heartbeat (protocol.ts): a socket
 * to a region that vanished without closing (its machine lost power, a NAT
 * dropped the flow) never errors by itself, so the client would wait on it
 * forever. Every `intervalMs` the watch checks whether anything arrived since
 * the last check; if so it sends a ping (which the region answers at once),
 * if not the socket is declared dead. A silent region is therefore detected
 * within 2 × intervalMs of its last word; a socket that does not even open in
 * that time counts as silent too.
 */
import type { Clock } from "../runtime/clock.ts";

export interface HeartbeatOptions {
  clock: Clock;
  intervalMs: number;
  /** Sends a ping (only called while the socket is open). */
  ping(): void;
  /** Whether the socket is open (a ping before that would throw). */
  isOpen(): boolean;
  /** The region said nothing for a whole interval after a ping: give up on this socket. */
  dead(): void;
}

export interface Heartbeat {
  /** Something arrived from the region. */
  heard(): void;
  stop(): void;
}

export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  // A fresh socket gets one interval's grace, as if the region had just spoken.
  let heard = true;
  let cancel: () => void = () => undefined;
  const tick = () => {
    if (!heard) return options.dead();
    heard = false;
    if (options.isOpen()) options.ping();
    cancel = options.clock.timer(options.intervalMs, tick);
  };
  cancel = options.clock.timer(options.intervalMs, tick);
  return {
    heard: () => void (heard = true),
    stop: () => cancel(),
  };
}
