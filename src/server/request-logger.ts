/**
 * The region's logger (pino): one JSON line per request and the region's own
 * events, to stdout (what `concord serve` does) or a file.
 *
 * Lines are written asynchronously: a synchronous destination makes one
 * write(2) per request on the event loop (pino to a file was the largest
 * single cost of a small GET after the body limit). Under load, lines that
 * arrive while a write is in flight go out together in the next one; on a
 * quiet server a line waits at most `flushMs`. The buffer is bounded
 * (`maxBufferBytes`): past it, lines are dropped and counted rather than
 * letting a slow disk or a stalled pipe grow memory. pino flushes what is
 * left when the process exits.
 */
import { pino, type Level, type Logger } from "pino";

export interface RequestLoggerOptions {
  level: Level;
  /** A file to append to; default stdout. */
  file?: string;
  /** Fields on every line, e.g. { region }. */
  base?: Record<string, unknown>;
  /** Most bytes of lines waiting to be written; lines past it are dropped (and counted). Default 8 MiB. */
  maxBufferBytes?: number;
  /** Longest a line waits for a write on a quiet server, ms. Default 200. */
  flushMs?: number;
}

/** A logger plus how many lines it had to drop because its buffer was full. */
export type RequestLogger = Logger & { droppedLines(): number };

/** A pino logger with a bounded asynchronous destination. */
export function createRequestLogger(options: RequestLoggerOptions): RequestLogger {
  const maxLength = options.maxBufferBytes ?? 8 << 20;
  const destination = pino.destination({
    dest: options.file ?? 1,
    sync: false,
    // Lines gather until 4 KiB (less for a tiny buffer) or the periodic flush: one write for many requests.
    minLength: Math.min(4096, Math.floor(maxLength / 4)),
    maxLength,
    periodicFlush: options.flushMs ?? 200,
  });
  let dropped = 0;
  destination.on("drop", () => void dropped++);
  const logger = pino({ level: options.level, ...(options.base ? { base: options.base } : {}) }, destination) as RequestLogger;
  logger.droppedLines = () => dropped;
  return logger;
}
