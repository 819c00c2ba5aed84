/**
 * One process's membership in a region of several (PostgreSQL): it joins
 * (drawing its boot epoch, which is also its gossip sending lane), heartbeats
 * every `heartbeatMs`, renews or takes the region's duties (leases of
 * `deadAfterMs`), and keeps the last view of its fellow processes for the
 * status route and for gossip (the region's epoch and lane floor, see
 * src/gossip/secure-channel.ts). Runs on the injected Clock, so tests and the
 * simulator drive it with a manual one.
 *
 * Failover: a holder that dies stops renewing; its lease expires at most
 * `deadAfterMs` after its last renewal, and a survivor takes it on its next
 * heartbeat: within deadAfterMs + heartbeatMs (4 s by default). A holder that
 * cannot reach the database stops counting itself the holder once its lease
 * would have run out by its own clock, before a survivor can take it (the
 * survivor waits for the database's expiry, measured from a later instant).
 */
import type { Clock } from "../runtime/clock.ts";
import type { Lease, Member, MembershipStore, MembershipView } from "../storage/membership.ts";

/** The duty of running this region's outgoing anti-entropy rounds. */
export const antiEntropyDuty = "anti-entropy";

export interface RegionMembersOptions {
  store: MembershipStore;
  clock: Clock;
  /** For operators: host and process id. */
  name: string;
  /** This process's own URL (asked at every heartbeat: known only once it listens). */
  url: () => string;
  /** The epoch drawn is at least this (the store's boot epoch: above every epoch the region used before). */
  atLeast: number;
  /** Duties this process may take. */
  duties: readonly string[];
  /** Default 1000. */
  heartbeatMs?: number;
  /** A member silent this long is dead, and a lease lasts this long unless renewed. Default 3000. */
  deadAfterMs?: number;
  /** Rows of members silent this long are removed (their lanes close). Default 60000. */
  collectAfterMs?: number;
  /** Hears of a failed heartbeat (the region logs it; the next one tries again). */
  onError?: (error: unknown) => void;
  /** Hears when this process takes or loses a duty, with the lease's fencing token. */
  onDuty?: (duty: string, held: boolean, token: number) => void;
}

export interface MemberStatus extends Member {
  alive: boolean;
  self: boolean;
}

export interface RegionMembers {
  /** This process's boot epoch (its sending lane). */
  readonly epoch: number;
  /** The highest epoch any process of the region drew, as of the last heartbeat. */
  regionEpoch(): number;
  /** The oldest epoch among the members still registered (at most this process's). */
  laneFloor(): number;
  /** Whether this process holds `duty` now (its lease unexpired by this process's own reckoning). */
  holds(duty: string): boolean;
  /** The members and leases as of the last heartbeat. */
  status(): { members: MemberStatus[]; leases: Lease[]; regionEpoch: number };
  /** One heartbeat now (tests; the timer runs them on its own). */
  beat(): Promise<void>;
  /** Stops heartbeating, leaves (releasing its leases) and closes the store. */
  stop(): Promise<void>;
}

export async function joinRegionMembers(options: RegionMembersOptions): Promise<RegionMembers> {
  const { store, clock } = options;
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const deadAfterMs = options.deadAfterMs ?? 3000;
  const collectAfterMs = options.collectAfterMs ?? 60_000;
  const epoch = await store.join({ name: options.name, url: options.url(), atLeast: options.atLeast });
  let view: MembershipView = { members: [], regionEpoch: epoch, leases: [] };
  /** Per duty held: until when (this clock) it counts as ours, and its token. */
  const held = new Map<string, { until: number; token: number }>();
  let stopped = false;
  let cancel: () => void = () => undefined;
  let beating: Promise<void> | undefined;
  let beats = 0;

  const setHeld = (duty: string, lease: Lease, asked: number) => {
    const was = held.get(duty);
    if (lease.holder === epoch) {
      // Measured from before the request: the database's expiry is at least this late.
      held.set(duty, { until: asked + Math.min(lease.expiresInMs, deadAfterMs), token: lease.token });
      if (!was || was.token !== lease.token) options.onDuty?.(duty, true, lease.token);
    } else if (was) {
      held.delete(duty);
      options.onDuty?.(duty, false, was.token);
    }
  };

  const beat = async () => {
    const asked = clock.now();
    await store.heartbeat(epoch, { name: options.name, url: options.url() });
    for (const duty of options.duties) setHeld(duty, await store.acquire(duty, epoch, deadAfterMs), asked);
    if (++beats % 10 === 0) await store.collect(collectAfterMs);
    view = await store.view();
  };
  const tick = () => {
    if (stopped) return;
    beating = beat()
      .catch((error: unknown) => options.onError?.(error))
      .finally(() => {
        beating = undefined;
        if (!stopped) cancel = clock.timer(heartbeatMs, tick);
      });
  };
  await beat();
  cancel = clock.timer(heartbeatMs, tick);

  return {
    epoch,
    regionEpoch: () => Math.max(view.regionEpoch, epoch),
    laneFloor: () => Math.min(epoch, ...view.members.map((m) => m.epoch)),
    holds(duty) {
      const lease = held.get(duty);
      return lease !== undefined && clock.now() < lease.until;
    },
    status: () => ({
      members: view.members.map((m) => ({ ...m, alive: m.silentMs < deadAfterMs, self: m.epoch === epoch })),
      leases: view.leases,
      regionEpoch: Math.max(view.regionEpoch, epoch),
    }),
    beat,
    async stop() {
      stopped = true;
      cancel();
      await beating;
      try {
        await store.leave(epoch);
      } finally {
        await store.close();
      }
    },
  };
}
