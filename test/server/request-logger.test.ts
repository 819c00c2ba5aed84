/**
 * The region's logger writes off the request path and within a bound: lines
 * reach the file (in order, whole), and a buffer that cannot drain drops and
 * counts lines instead of growing.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createRequestLogger } from "../../src/server/request-logger.ts";
import { tempDir } from "../helpers/replicas.ts";
import { poll } from "./processes.ts";

let dir: { path: string; remove: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir("concord-logger-");
});
afterEach(async () => dir.remove());

const lines = async (file: string) => (await readFile(file, "utf8").catch(() => "")).split("\n").filter(Boolean).map((l) => JSON.parse(l) as { msg: string; n: number; region: string });

describe("request logger", () => {
  it("writes every line to the file, whole and in order, without a flush from the caller", async () => {
    const file = join(dir.path, "server.log");
    const logger = createRequestLogger({ level: "info", file, base: { region: "r1" }, flushMs: 20 });
    for (let n = 0; n < 500; n++) logger.info({ n }, "request");
    logger.debug({ n: -1 }, "below the level");
    const written = await poll("every line in the file", async () => {
      const got = await lines(file);
      return got.length >= 500 ? got : undefined;
    });
    expect(written.map((l) => l.n)).toEqual(Array.from({ length: 500 }, (_, n) => n));
    expect(written.every((l) => l.region === "r1" && l.msg === "request")).toBe(true);
    expect(logger.droppedLines()).toBe(0);
  });

  it("drops and counts lines past maxBufferBytes instead of buffering without bound", async () => {
    const file = join(dir.path, "server.log");
    const logger = createRequestLogger({ level: "info", file, maxBufferBytes: 16 << 10 });
    // One synchronous burst: nothing drains until it ends, so the buffer fills.
    for (let n = 0; n < 5000; n++) logger.info({ n, pad: "x".repeat(100) }, "request");
    expect(logger.droppedLines()).toBeGreaterThan(0);
    logger.flush();
    const written = await poll("the kept lines in the file", async () => {
      const got = await lines(file);
      return got.length > 0 && got.length + logger.droppedLines() >= 5000 ? got : undefined;
    });
    expect(written.length + logger.droppedLines()).toBe(5000);
    expect(written.length).toBeLessThan(5000);
  });
});
