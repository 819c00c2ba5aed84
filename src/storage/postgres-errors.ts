/**
 * How failures of the PostgreSQL client become ConcordErrors. Every failure
 * of the database is "unavailable" (the Store contract), with a message that
 * names the server (never its password) and says what failed. Connection-class
 * failures are told apart because a read, or a write that never reached
 * COMMIT, may be retried once on a fresh connection.
 */
import { ConcordError } from "../errors.ts";

/**
 * SQLSTATE classes and codes of a lost or refused connection: 08 connection
 * exception, 57P01..57P03 admin shutdown / crash shutdown / cannot connect now
 * (pg_terminate_backend gives 57P01), 53300 too many connections.
 */
const connectionStates = /^(08|57P0[123]$|53300$)/;

/** True for errors that say the connection broke or could not be made (not a fault of the statement). */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && connectionStates.test(code)) return true;
  // Socket-level failures carry Node's errno codes or only a message.
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return true;
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|not queryable/i.test(error.message);
}

/** `url` without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "(an unparsable PostgreSQL URL)";
  }
}

/** The ConcordError("unavailable") for `action` ("a write to", "a scan of") failing on `what`. */
export function unavailable(action: string, what: string, cause: unknown): ConcordError {
  const text = cause instanceof Error ? cause.message : String(cause);
  const lost = isConnectionError(cause) ? " (the connection to PostgreSQL was lost or refused; later calls reconnect)" : "";
  return new ConcordError("unavailable", `${action} ${what} failed: ${text}${lost}`, { cause });
}
