/**
 * MembershipStore in memory (membership.ts), on an injected clock: for tests
 * and the simulator, with the PostgreSQL implementation's semantics (an epoch
 * sequence that never hands a number out twice, leases with fencing tokens).
 * Several processes of one simulated region share one instance.
 */
import { ConcordError } from "../errors.ts";
import type { Clock } from "../runtime/clock.ts";
import type { Lease, MembershipStore } from "./membership.ts";

interface Row {
  name: string;
  url: string;
  startedAt: number;
  heartbeatAt: number;
}

export interface MemoryMembership extends MembershipStore {
  /** Tests: makes every call fail with "unavailable" (a database that went away) until set back. */
  unavailable: boolean;
}

export function createMemoryMembership(clock: Clock): MemoryMembership {
  let regionEpoch = 0;
  const members = new Map<number, Row>();
  const leases = new Map<string, { holder: number; token: number; expiresAt: number }>();
  const leaseOf = (duty: string): Lease => {
    const l = leases.get(duty)!;
    return { duty, holder: l.holder, token: l.token, expiresInMs: l.expiresAt - clock.now() };
  };
  const self: MemoryMembership = {
    unavailable: false,
    async join({ name, url, atLeast }) {
      check();
      regionEpoch = Math.max(regionEpoch + 1, atLeast);
      members.set(regionEpoch, { name, url, startedAt: clock.now(), heartbeatAt: clock.now() });
      return regionEpoch;
    },
    async heartbeat(epoch, { name, url }) {
      check();
      const row = members.get(epoch);
      if (row) Object.assign(row, { name, url, heartbeatAt: clock.now() });
      else members.set(epoch, { name, url, startedAt: clock.now(), heartbeatAt: clock.now() });
    },
    async leave(epoch) {
      check();
      members.delete(epoch);
      // Expired, not deleted: the next holder's token still grows past this one's.
      for (const lease of leases.values()) if (lease.holder === epoch) lease.expiresAt = -Infinity;
    },
    async acquire(duty, holder, ttlMs) {
      check();
      const now = clock.now();
      const current = leases.get(duty);
      if (!current) leases.set(duty, { holder, token: 1, expiresAt: now + ttlMs });
      else if (current.holder === holder) current.expiresAt = now + ttlMs;
      else if (current.expiresAt < now) leases.set(duty, { holder, token: current.token + 1, expiresAt: now + ttlMs });
      return leaseOf(duty);
    },
    async view() {
      check();
      const now = clock.now();
      return {
        members: [...members].map(([epoch, r]) => ({ epoch, name: r.name, url: r.url, startedAt: r.startedAt, silentMs: now - r.heartbeatAt })),
        regionEpoch,
        leases: [...leases.keys()].map(leaseOf),
      };
    },
    async collect(ms) {
      check();
      for (const [epoch, row] of members) if (clock.now() - row.heartbeatAt > ms) members.delete(epoch);
    },
    async close() {},
  };
  function check() {
    if (self.unavailable) throw new ConcordError("unavailable", "the membership store is unavailable");
  }
  return self;
}
