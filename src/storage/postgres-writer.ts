/**
 * The write path of the PostgreSQL store: one queue, one transaction at a
 * time. Batches issued while a transaction runs wait and then go together
 * into the next one (group commit: one COMMIT, so one WAL flush, acknowledges
 * many batches). One transaction at a time is what gives the Store contract's
 * order: batches apply in call order, and whatever a crash keeps is a prefix
 * of them. A batch's promise resolves only after COMMIT returned: with
 * synchronous_commit on (checked at open), that is after the WAL flush.
 *
 * A group that fits one statement (the common case: a few upserts) runs
 * without BEGIN/COMMIT, one round trip. A transaction that fails before
 * COMMIT was sent (the pooled connection had died, say) is retried once on a
 * fresh connection: nothing of it committed. A failure at COMMIT (or of a
 * lone statement once sent) leaves its outcome unknown; its batches reject
 * with "unavailable" and may or may not be there, as after a crash.
 *
 * A conditional batch (Store write with `expect`) runs alone in its own
 * SERIALIZABLE transaction: it row-locks the expected keys that exist
 * (SELECT ... FOR UPDATE), compares, and writes only if every expectation
 * holds, else rolls back and rejects with "conflict". Row locks cannot lock a
 * key that is absent; SERIALIZABLE covers that case: two transactions that
 * both saw a key absent and both write it cannot both commit (one fails with
 * SQLSTATE 40001 and is retried from the start, where its check then fails).
 * CockroachDB runs every transaction SERIALIZABLE; YugabyteDB supports it.
 */
import type { StoreSql } from "./postgres-sql.ts";
import { isConnectionError } from "./postgres-errors.ts";
import { conflictError, unmetKeys } from "./store-expect.ts";

/** One transaction takes at most this many queued batches, or this many bytes of them (a larger single batch goes alone). */
const groupBatchesMax = 256;
const groupBytesMax = 8 << 20;
/** Rows per INSERT (two parameters each, far under the protocol's 65535) and per DELETE. */
const rowsPerStatement = 500;
/** Value bytes per INSERT statement (a single larger row goes alone). */
const bytesPerStatement = 8 << 20;
/** Attempts of a conditional transaction that fails to serialize (40001) or deadlocks (40P01) before "unavailable". */
const serializationAttemptsMax = 8;

/** A connection checked out for one transaction. */
export interface TransactionClient {
  query(text: string, values?: unknown[]): Promise<unknown>;
  /** Returns the connection; with an error, the pool discards it instead of reusing it. */
  release(error?: Error | boolean): void;
}

/** A batch, copied into Buffers the caller cannot touch; a null value deletes. */
export type QueuedBatch = ReadonlyArray<readonly [Buffer, Buffer | null]>;
/** Expectations of a conditional batch, as key and value (null: absent). */
export type QueuedExpectations = ReadonlyArray<readonly [Buffer, Buffer | null]>;

interface Pending {
  batch: QueuedBatch;
  expect: QueuedExpectations;
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export interface Writer {
  /**
   * Queues `batch`; resolves once its transaction committed. Rejects with what `fail` makes of the error,
   * or with ConcordError("conflict") when an expectation does not hold (then nothing was written).
   */
  write(batch: QueuedBatch, expect?: QueuedExpectations): Promise<void>;
  /** Resolves once every batch queued so far settled. */
  drained(): Promise<void>;
}

export function createWriter(sql: StoreSql, connect: () => Promise<TransactionClient>, fail: (cause: unknown) => Error): Writer {
  const queue: Pending[] = [];
  let running: Promise<void> | undefined;

  const pump = async (): Promise<void> => {
    while (queue.length > 0) {
      const group = takeGroup(queue);
      try {
        if (group[0]!.expect.length > 0) await commitConditional(sql, connect, group[0]!);
        else await commitWithRetry(sql, connect, group.map((p) => p.batch));
        for (const p of group) p.resolve();
      } catch (error) {
        const failure = error instanceof Conflict ? error.error : fail(error);
        for (const p of group) p.reject(failure);
      }
    }
    running = undefined;
  };

  return {
    write(batch, expect = []) {
      return new Promise<void>((resolve, reject) => {
        let bytes = 0;
        for (const [key, value] of batch) bytes += key.length + (value?.length ?? 0);
        queue.push({ batch, expect, bytes, resolve, reject });
        running ??= pump();
      });
    },
    async drained() {
      while (running) await running;
    },
  };
}

/** The next group: unconditional batches up to the bounds, or one conditional batch alone (its check decides for it only). */
function takeGroup(queue: Pending[]): Pending[] {
  if (queue[0]!.expect.length > 0) return queue.splice(0, 1);
  let count = 1;
  let bytes = queue[0]!.bytes;
  while (
    count < queue.length && count < groupBatchesMax && queue[count]!.expect.length === 0 && bytes + queue[count]!.bytes <= groupBytesMax
  ) {
    bytes += queue[count++]!.bytes;
  }
  return queue.splice(0, count);
}

/** A conditional batch refused by its check: passed through as it is, never turned into "unavailable". */
class Conflict extends Error {
  constructor(readonly error: Error) {
    super(error.message);
  }
}

/** SQLSTATEs after which the whole transaction was rolled back and may simply run again. */
const retryableStates = new Set(["40001", "40P01"]);
const isRetryable = (error: unknown): boolean => retryableStates.has(String((error as { code?: unknown } | undefined)?.code));

/** One conditional batch (see the header), retried while it fails to serialize or its connection died before COMMIT. */
async function commitConditional(sql: StoreSql, connect: () => Promise<TransactionClient>, pending: Pending): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await conditionalOnce(sql, connect, pending);
      return;
    } catch (error) {
      if (error instanceof Conflict) throw error;
      const cause = unwrap(error);
      const again = isRetryable(cause) || (error instanceof BeforeCommit && isConnectionError(cause) && attempt === 1);
      if (!again || attempt >= serializationAttemptsMax) throw cause;
    }
  }
}

async function conditionalOnce(sql: StoreSql, connect: () => Promise<TransactionClient>, pending: Pending): Promise<void> {
  const statements = plan(sql, finalState([pending.batch]));
  const client = await connectForAttempt(connect);
  try {
    try {
      await client.query("BEGIN ISOLATION LEVEL SERIALIZABLE");
      const result = (await client.query(sql.lockKeys, [pending.expect.map(([key]) => key)])) as { rows: Array<{ k: Buffer; v: Buffer }> };
      const current = new Map(result.rows.map((row) => [row.k.toString("latin1"), row.v]));
      const unmet = unmetKeys(
        pending.expect.map(([key, value]) => ({ key, value: value ?? undefined })),
        (key) => current.get(Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString("latin1")),
      );
      if (unmet.length > 0) {
        await client.query("ROLLBACK");
        client.release();
        throw new Conflict(conflictError(unmet, "the PostgreSQL store"));
      }
      for (const { text, values } of statements) await client.query(text, values);
    } catch (cause) {
      throw cause instanceof Conflict ? cause : new BeforeCommit(cause);
    }
    // A serialization failure at COMMIT (40001) rolled everything back: retried like one before it.
    await client.query("COMMIT");
    client.release();
  } catch (error) {
    if (error instanceof Conflict) throw error;
    client.release(error instanceof Error ? error : true);
    throw error;
  }
}

async function commitWithRetry(sql: StoreSql, connect: () => Promise<TransactionClient>, batches: readonly QueuedBatch[]): Promise<void> {
  try {
    await commitOnce(sql, connect, batches);
  } catch (error) {
    if (!(error instanceof BeforeCommit) || !isConnectionError(error.cause)) throw unwrap(error);
    await commitOnce(sql, connect, batches).catch((again: unknown) => {
      throw unwrap(again);
    });
  }
}

/** A failure before COMMIT was sent: nothing of the transaction can have committed. */
class BeforeCommit extends Error {
  constructor(override readonly cause: unknown) {
    super("failed before COMMIT");
  }
}

const unwrap = (error: unknown): unknown => (error instanceof BeforeCommit ? error.cause : error);

/** A connection for one attempt: failing to get one is a failure before COMMIT (nothing was sent). */
async function connectForAttempt(connect: () => Promise<TransactionClient>): Promise<TransactionClient> {
  try {
    return await connect();
  } catch (cause) {
    throw new BeforeCommit(cause);
  }
}

async function commitOnce(sql: StoreSql, connect: () => Promise<TransactionClient>, batches: readonly QueuedBatch[]): Promise<void> {
  const statements = plan(sql, finalState(batches));
  const client = await connectForAttempt(connect);
  try {
    if (statements.length === 1) {
      // One statement commits on its own (autocommit is atomic and, with synchronous_commit on, durable
      // when it returns): one round trip instead of three. Its outcome is unknown if it fails, unless the
      // connection was already dead before it was sent.
      await client.query(statements[0]!.text, statements[0]!.values).catch((cause: unknown) => {
        throw notSent(cause) ? new BeforeCommit(cause) : cause;
      });
    } else {
      try {
        await client.query("BEGIN");
        for (const { text, values } of statements) await client.query(text, values);
      } catch (cause) {
        throw new BeforeCommit(cause);
      }
      await client.query("COMMIT");
    }
    client.release();
  } catch (error) {
    // A broken connection, or one left inside a failed transaction: either way not reusable.
    client.release(error instanceof Error ? error : true);
    throw error;
  }
}

/** node-postgres refuses to send on a connection it already knows is dead. */
const notSent = (error: unknown): boolean => error instanceof Error && /not queryable|Client was closed/i.test(error.message);

/**
 * What the batches leave behind, key by key: applying them in order is the
 * same as applying each key's last write. Deduplicating also keeps one
 * INSERT ... ON CONFLICT from touching a row twice, which PostgreSQL refuses.
 */
function finalState(batches: readonly QueuedBatch[]): { deletes: Buffer[]; upserts: Array<[Buffer, Buffer]> } {
  const last = new Map<string, readonly [Buffer, Buffer | null]>();
  for (const batch of batches) for (const entry of batch) last.set(entry[0].toString("latin1"), entry);
  const deletes: Buffer[] = [];
  const upserts: Array<[Buffer, Buffer]> = [];
  for (const [key, value] of last.values()) {
    if (value === null) deletes.push(key);
    else upserts.push([key, value]);
  }
  return { deletes, upserts };
}

interface Statement {
  text: string;
  values: unknown[];
}

/** The statements that bring the table to `state`: deletes, then upserts, each chunked. */
function plan(sql: StoreSql, state: ReturnType<typeof finalState>): Statement[] {
  const statements: Statement[] = [];
  for (let i = 0; i < state.deletes.length; i += rowsPerStatement) {
    statements.push({ text: sql.deleteKeys, values: [state.deletes.slice(i, i + rowsPerStatement)] });
  }
  let i = 0;
  while (i < state.upserts.length) {
    let rows = 1;
    let bytes = state.upserts[i]![1].length;
    while (i + rows < state.upserts.length && rows < rowsPerStatement && bytes + state.upserts[i + rows]![1].length <= bytesPerStatement) {
      bytes += state.upserts[i + rows]![1].length;
      rows++;
    }
    const values: Buffer[] = [];
    for (const [key, value] of state.upserts.slice(i, i + rows)) values.push(key, value);
    statements.push({ text: sql.upsert(rows), values });
    i += rows;
  }
  return statements;
}
