#!/usr/bin/env node
// Development launcher: the same `concord` command run from the TypeScript sources through tsx (a
// devDependency), so tests and a working tree need no build step. The package's bin is the built
// dist/src/concord.js (`npm run build`, run by `npm ci`), which needs neither tsc nor tsx.
import { register } from "tsx/esm/api";

register();
await import("./concord.ts");
