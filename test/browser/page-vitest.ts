/**
 * Just enough of vitest to run a suite written for it inside a browser page:
 * describe / it / beforeEach / afterEach collect a tree, `expect` is vitest's
 * own (@vitest/expect on chai, the same matchers and messages), and
 * runCollected() runs the tree in order and reports each test. A page bundle
 * aliases "vitest" to this file (test/helpers/browser.ts, `alias`), so a
 * suite such as test/conformance/store.ts runs unchanged.
 *
 * Not supported, and reported as a failure if used: test options, `.each`,
 * `.only`, concurrency, timeouts (the harness waits on the whole run instead).
 */
import { chai, JestAsymmetricMatchers, JestChaiExpect, JestExtend } from "@vitest/expect";

chai.use(JestExtend);
chai.use(JestChaiExpect);
chai.use(JestAsymmetricMatchers);

/** vitest's `expect(value, message?)` with its matchers, `.rejects` and `.resolves` included. */
export const expect = ((value: unknown, message?: string) => chai.expect(value, message)) as unknown as Chai.ExpectStatic;

type Hook = () => unknown;
interface TestContext {
  skip(note?: string): never;
}
type TestFn = (ctx: TestContext) => unknown;

interface Suite {
  name: string;
  beforeEach: Hook[];
  afterEach: Hook[];
  /** Children in declaration order, so suites and tests run as written. */
  order: Array<{ suite: Suite } | { test: { name: string; fn: TestFn } }>;
}

/** One test's outcome, as the harness reports it back to the vitest test in Node. */
export interface PageTestResult {
  name: string;
  status: "passed" | "failed" | "skipped";
  error?: string;
  durationMs: number;
}

const root: Suite = newSuite("");
let current = root;

function newSuite(name: string): Suite {
  return { name, beforeEach: [], afterEach: [], order: [] };
}

export function describe(name: string, fn: () => void): void {
  const suite = newSuite(name);
  current.order.push({ suite });
  const parent = current;
  current = suite;
  try {
    fn();
  } finally {
    current = parent;
  }
}

export function it(name: string, fn: TestFn): void {
  current.order.push({ test: { name, fn } });
}
export const test = it;

export function beforeEach(fn: Hook): void {
  current.beforeEach.push(fn);
}

export function afterEach(fn: Hook): void {
  current.afterEach.push(fn);
}

class Skipped extends Error {}

const context: TestContext = {
  skip(note) {
    throw new Skipped(note ?? "skipped");
  },
};

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}\n${error.stack ?? ""}`;
  return String(error);
}

/**
 * Runs every test collected so far, in declaration order, each with the
 * beforeEach hooks of its suites (outermost first) and their afterEach hooks
 * (innermost first, run even when the test failed). `clock` times each test.
 */
export async function runCollected(clock: () => number): Promise<PageTestResult[]> {
  const results: PageTestResult[] = [];
  async function run(suite: Suite, path: string[], before: Hook[], after: Hook[]): Promise<void> {
    const names = suite.name ? [...path, suite.name] : path;
    const allBefore = [...before, ...suite.beforeEach];
    const allAfter = [...suite.afterEach, ...after];
    for (const child of suite.order) {
      if ("suite" in child) {
        await run(child.suite, names, allBefore, allAfter);
        continue;
      }
      const name = [...names, child.test.name].join(" > ");
      const started = clock();
      let status: PageTestResult["status"] = "passed";
      let error: string | undefined;
      try {
        for (const hook of allBefore) await hook();
        await child.test.fn(context);
      } catch (e) {
        if (e instanceof Skipped) status = "skipped";
        else [status, error] = ["failed", describeError(e)];
      }
      for (const hook of allAfter) {
        try {
          await hook();
        } catch (e) {
          if (status !== "failed") [status, error] = ["failed", `afterEach: ${describeError(e)}`];
        }
      }
      results.push({ name, status, ...(error === undefined ? {} : { error }), durationMs: clock() - started });
    }
  }
  await run(root, [], [], []);
  return results;
}
