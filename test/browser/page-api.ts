/**
 * The page side of test/helpers/browser.ts. A page bundle calls
 * exposeToTest({ name: fn, ... }) once its setup is done; the vitest test then
 * calls those functions with `page.call(name, ...args)`. Arguments and
 * results cross as JSON-like values (no Uint8Array: use hex or base64). A
 * function that throws comes back as an Error in Node carrying the same
 * `code` (a ConcordError's) and message.
 */

/** What crosses back to Node for one call. */
export type PageCallOutcome = { ok: unknown } | { error: { name: string; code?: string; message: string; stack?: string } };

interface PageGlobals {
  concordPage?: { call(name: string, args: unknown[]): Promise<PageCallOutcome> };
  concordPageError?: string;
}

const g = globalThis as PageGlobals;

// Anything that escapes before or after setup fails the page visibly instead of leaving the test waiting.
globalThis.addEventListener?.("error", (event) => {
  g.concordPageError ??= String((event as ErrorEvent).error?.stack ?? (event as ErrorEvent).message);
});
globalThis.addEventListener?.("unhandledrejection", (event) => {
  const reason = (event as PromiseRejectionEvent).reason as { stack?: string } | undefined;
  g.concordPageError ??= `unhandled rejection: ${String(reason?.stack ?? reason)}`;
});

/** Registers the functions the test may call; the harness waits for this before it calls any. */
export function exposeToTest(functions: Record<string, (...args: never[]) => unknown>): void {
  g.concordPage = {
    async call(name, args) {
      const fn = functions[name];
      if (fn === undefined) return { error: { name: "Error", message: `the page has no function "${name}"` } };
      try {
        return { ok: await (fn as (...a: unknown[]) => unknown)(...args) };
      } catch (e) {
        const error = e as { name?: string; code?: string; message?: string; stack?: string };
        return {
          error: {
            name: String(error?.name ?? "Error"),
            ...(typeof error?.code === "string" ? { code: error.code } : {}),
            message: String(error?.message ?? e),
            ...(typeof error?.stack === "string" ? { stack: error.stack } : {}),
          },
        };
      }
    },
  };
}

/** Runs `setup`, then exposes what it returns; a setup failure is reported to the harness. */
export function startPage(setup: () => Promise<Record<string, (...args: never[]) => unknown>>): void {
  setup().then(exposeToTest, (e: unknown) => {
    g.concordPageError = `page setup failed: ${String((e as Error)?.stack ?? e)}`;
  });
}
