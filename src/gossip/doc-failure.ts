/**
 * Which errors belong to one document rather than to the whole replica. A
 * document that fails here (a corrupt record, an engine that cannot load it)
 * is skipped, counted, and left for an operator; replication of every other
 * document goes on. A replica that is closed or whose store stopped writing
 * fails everything alike: that error stops the exchange, to be retried.
 */
import { isConcordError } from "../errors.ts";

export function isDocFailure(error: unknown): boolean {
  return !isConcordError(error, "closed") && !isConcordError(error, "unavailable");
}
