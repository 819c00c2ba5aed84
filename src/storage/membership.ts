/**
 * The processes of one region and the duties one of them runs at a time: the
 * port a region of several processes shares through its store's database
 * (postgres-membership.ts), with a memory implementation for tests and the
 * simulator (memory-membership.ts). Times are the implementation's own clock
 * (the database's, for PostgreSQL), so processes with skewed clocks agree on
 * who is alive and who holds a lease.
 *
 * - join draws the process's boot epoch from the region's epoch sequence: a
 *   number handed out once, above every earlier one and at least `atLeast`.
 *   It is the process's id in the table and its gossip sending lane
 *   (src/gossip/secure-channel.ts).
 * - A member is alive while its last heartbeat is younger than `deadAfterMs`.
 * - A lease names its holder, its expiry and a fencing token that grows each
 *   time the lease changes hands: work done under an older token is stale.
 */

export interface Member {
  /** Its boot epoch: unique in the region, never reused. */
  epoch: number;
  /** For operators: host and process id. */
  name: string;
  /** Where the process listens (its own URL, not the load balancer's). */
  url: string;
  startedAt: number;
  /** Milliseconds since its last heartbeat, by the membership's clock. */
  silentMs: number;
}

export interface Lease {
  duty: string;
  /** The holder's epoch. */
  holder: number;
  /** Grows by one each time the lease moves to another holder. */
  token: number;
  /** Milliseconds until it expires unless renewed (negative: expired). */
  expiresInMs: number;
}

export interface MembershipView {
  members: Member[];
  /** The highest epoch the region ever drew (the epoch its processes announce). */
  regionEpoch: number;
  leases: Lease[];
}

export interface MembershipStore {
  /** Draws this process's epoch (see the file header) and registers it. ConcordError "unavailable" when unreachable. */
  join(member: { name: string; url: string; atLeast: number }): Promise<number>;
  /** Records a heartbeat of `epoch`, registering it again if its row was collected meanwhile. */
  heartbeat(epoch: number, member: { name: string; url: string }): Promise<void>;
  /** Removes `epoch` and releases its leases (a graceful stop: survivors take them at once). */
  leave(epoch: number): Promise<void>;
  /**
   * Takes `duty` for `holder` when it is free, expired, or held by `holder` already (then renews it),
   * for `ttlMs`. Returns the lease as it stands after the attempt, whoever holds it.
   */
  acquire(duty: string, holder: number, ttlMs: number): Promise<Lease>;
  /** The members (including ones silent for a while: see silentMs), the region epoch and the leases. */
  view(): Promise<MembershipView>;
  /** Forgets members silent for longer than `ms` (their lanes close: the lane floor rises past them). */
  collect(ms: number): Promise<void>;
  close(): Promise<void>;
}
