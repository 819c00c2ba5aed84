import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const dir = fileURLToPath(new URL("../../src/doc/", import.meta.url));
const sources = readdirSync(dir)
  .filter((name) => name.endsWith(".ts"))
  .map((name) => ({ name, text: readFileSync(dir + name, "utf8") }));

describe("src/doc hygiene", () => {
  it("imports no Node built-ins, so it bundles for browsers", () => {
    for (const { name, text } of sources) expect(text, name).not.toMatch(/from\s+["'](node:|fs|path|crypto|buffer|util)["'/]/);
    for (const { name, text } of sources) expect(text, name).not.toMatch(/\bBuffer\./);
  });

  it("uses no ambient time or randomness", () => {
    for (const { name, text } of sources) expect(text, name).not.toMatch(/Date\.now|Math\.random|setTimeout|setInterval|crypto\.|performance\.now/);
  });

  it("has no default exports and keeps files small", () => {
    for (const { name, text } of sources) {
      expect(text, name).not.toMatch(/export default/);
      expect(text.split("\n").length, name).toBeLessThan(320);
    }
  });
});
