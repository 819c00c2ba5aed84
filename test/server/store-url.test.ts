import { describe, expect, it } from "vitest";
import { isConcordError } from "../../src/errors.ts";
import { defaultSchema, parseStoreUrl } from "../../src/server/store-url.ts";

describe("--store URL", () => {
  it("takes the schema from ?schema= and leaves the rest of the URL to node-postgres", () => {
    const options = parseStoreUrl("postgres://concord:pw@db:5433/prod?schema=concord_east&sslmode=require", "us-east");
    expect(options.schema).toBe("concord_east");
    expect(options.url).toBe("postgres://concord:pw@db:5433/prod?sslmode=require");
    expect(options.applicationName).toBe("concord-us-east");
  });

  it("defaults the schema to concord_<region>, folded to a plain identifier", () => {
    expect(parseStoreUrl("postgresql://db/prod", "US-East.2").schema).toBe("concord_us_east_2");
    expect(defaultSchema("x".repeat(100)).length).toBe(63);
  });

  it("rejects anything but a postgres:// URL, without echoing a password", () => {
    for (const bad of ["/var/lib/concord", "mysql://root:hunter2@db/x", "postgres//nohost"]) {
      let error: unknown;
      try {
        parseStoreUrl(bad, "r");
      } catch (e) {
        error = e;
      }
      expect(isConcordError(error, "invalid_argument"), `${bad}: ${String(error)}`).toBe(true);
      expect((error as Error).message).not.toContain("hunter2");
    }
  });
});
