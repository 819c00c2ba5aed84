/**
 * A ChangeVerifier (src/doc/automerge-verdicts.ts) on worker threads: the
 * byte-only checks of large Automerge deltas, and their applies to copies of
 * documents (automerge-apply-offload.ts), run beside the event loop, so a
 * region keeps answering other requests meanwhile. Bounded: at most
 * `threads` workers, each one job at a time, the rest queued.
 *
 * A worker that dies, or takes longer than `timeoutMs` (it is terminated),
 * fails its job: verify() or apply() rejects and the engine checks (and
 * applies) that delta on the main thread, as without a pool. Workers start on first use, and hold the
 * process open only while they have work.
 */
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ConcordError, errorCodes, type ErrorCode } from "../errors.ts";
import type { ChangeVerifier, DeltaVerdict } from "../doc/automerge-verdicts.ts";
import type { ApplyJob, ApplyOutcome } from "../doc/automerge-apply-offload.ts";
import type { OpsJob, OpsOutcome } from "../doc/automerge-ops-offload.ts";
import type { VerifyReply, VerifyRequest } from "./automerge-verify-worker.ts";

export interface VerifierPoolOptions {
  /** Most worker threads. Default 1: the region's own thread needs the other core of a small machine. */
  threads?: number;
  /** A check that takes longer is abandoned (and checked on the main thread). Default 60 s. */
  timeoutMs?: number;
  /** Deltas with fewer ops stay on the main thread (ChangeVerifier.minOps). */
  minOps?: number;
}

export interface VerifierPool extends ChangeVerifier {
  /** Stops every worker; pending and later checks reject (and run on the main thread instead). */
  close(): Promise<void>;
}

interface Job {
  id: number;
  request: VerifyRequest;
  resolve: (reply: VerifyReply) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker;
  job: Job | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Creates the pool (no thread starts until the first check). */
export function createVerifierPool(options: VerifierPoolOptions = {}): VerifierPool {
  const threads = Math.max(1, options.threads ?? 1);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const slots: Slot[] = [];
  const queue: Job[] = [];
  let nextId = 0;
  let closed = false;

  const finish = (slot: Slot, settle: (job: Job) => void) => {
    const job = slot.job;
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    slot.job = undefined;
    slot.timer = undefined;
    slot.worker.unref();
    if (job !== undefined) settle(job);
    pump();
  };

  const drop = (slot: Slot, why: string) => {
    const at = slots.indexOf(slot);
    if (at < 0) return;
    slots.splice(at, 1);
    void slot.worker.terminate();
    finish(slot, (job) => job.reject(new Error(why)));
  };

  const spawn = (): Slot => {
    const worker = startWorker();
    const slot: Slot = { worker, job: undefined, timer: undefined };
    worker.on("message", (reply: VerifyReply) => {
      if (slot.job?.id !== reply.id) return;
      finish(slot, (job) => job.resolve(reply));
    });
    worker.on("error", (error) => drop(slot, `the change verifier failed: ${error.message}`));
    worker.on("exit", () => drop(slot, "the change verifier exited"));
    worker.unref();
    slots.push(slot);
    return slot;
  };

  const pump = () => {
    while (queue.length > 0 && !closed) {
      const slot = slots.find((s) => s.job === undefined) ?? (slots.length < threads ? spawn() : undefined);
      if (slot === undefined) return;
      const job = queue.shift()!;
      slot.job = job;
      slot.worker.ref(); // work in flight keeps the process alive until it answers
      slot.timer = setTimeout(() => drop(slot, `the change verifier took over ${timeoutMs} ms`), timeoutMs);
      try {
        slot.worker.postMessage(job.request);
      } catch (error) {
        // Not cloneable (a PATCH value holding a function): the caller does the work itself.
        finish(slot, (failed) => failed.reject(error instanceof Error ? error : new Error(String(error))));
      }
    }
  };

  const submit = (request: (id: number) => VerifyRequest): Promise<VerifyReply> => {
    if (closed) return Promise.reject(new Error("the change verifier is closed"));
    return new Promise<VerifyReply>((resolve, reject) => {
      const id = ++nextId;
      queue.push({ id, request: request(id), resolve, reject });
      pump();
    });
  };

  return {
    ...(options.minOps !== undefined ? { minOps: options.minOps } : {}),
    verify: (delta) => submit((id) => ({ id, delta })).then(verdictOf),
    apply: (job: ApplyJob) => submit((id) => ({ id, apply: job })).then(appliedOf),
    runOps: (job: OpsJob) => submit((id) => ({ id, runOps: job })).then(ranOf),
    async close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new Error("the change verifier is closed"));
      await Promise.all([...slots].map(async (slot) => drop(slot, "the change verifier is closed")));
    },
  };
}

/** Starts a worker on the worker module: .js once built; from the sources (tests, tsx), through tsx's loader. */
function startWorker(): Worker {
  const ownUrl = import.meta.url;
  if (!ownUrl.endsWith(".ts")) return new Worker(new URL("./automerge-verify-worker.js", ownUrl));
  // A worker does not inherit the loader hooks tsx registered in this thread (nor would `--import tsx` reach them
  // in Node 20): it registers tsx itself, then imports the TypeScript module.
  // tsx's ESM build of its API (what `import "tsx/esm/api"` resolves to; require.resolve would give the CommonJS one).
  const tsx = pathToFileURL(join(dirname(createRequire(ownUrl).resolve("tsx/package.json")), "dist", "esm", "api", "index.mjs")).href;
  const worker = new URL("./automerge-verify-worker.ts", ownUrl).href;
  const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(worker)}); });`;
  return new Worker(boot, { eval: true });
}

function verdictOf(reply: VerifyReply): DeltaVerdict {
  if ("applied" in reply || "ran" in reply) throw new Error("the change verifier answered a check with something else");
  if (reply.ok) return { ok: true, chunks: reply.chunks };
  const code: ErrorCode = (errorCodes as readonly string[]).includes(reply.code) ? (reply.code as ErrorCode) : "invalid_update";
  return { ok: false, error: new ConcordError(code, reply.message, { details: reply.details }) };
}

function appliedOf(reply: VerifyReply): ApplyOutcome {
  if (!("applied" in reply)) throw new Error("the change verifier answered an apply with something else");
  return reply.applied;
}

function ranOf(reply: VerifyReply): OpsOutcome {
  if (!("ran" in reply)) throw new Error("the change verifier answered a PATCH with something else");
  return reply.ran;
}

let shared: VerifierPool | undefined;

/** One pool for the whole process (regions in one process share its threads). */
export function sharedVerifierPool(): VerifierPool {
  shared ??= createVerifierPool();
  return shared;
}
