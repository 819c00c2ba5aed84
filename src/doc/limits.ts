/**
 * Resolves the limits an engine enforces from the partial options it was given.
 */
import { ConcordError } from "../errors.ts";
import { defaultEngineLimits, type EngineLimits } from "./engine.ts";

/** `partial` filled in from the defaults; rejects limits that are not positive integers. */
export function resolveLimits(partial: Partial<EngineLimits> | undefined): EngineLimits {
  const limits: EngineLimits = {
    maxDeltaBytes: partial?.maxDeltaBytes ?? defaultEngineLimits.maxDeltaBytes,
    maxSnapshotBytes: partial?.maxSnapshotBytes ?? defaultEngineLimits.maxSnapshotBytes,
    maxDepth: partial?.maxDepth ?? defaultEngineLimits.maxDepth,
    maxOpsPerDelta: partial?.maxOpsPerDelta ?? defaultEngineLimits.maxOpsPerDelta,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new ConcordError("invalid_argument", `limits.${name} must be a positive integer, got ${String(value)}`);
    }
  }
  return limits;
}
