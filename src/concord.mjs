#!/usr/bin/env node
// The `concord` command. Concord ships as TypeScript; tsx compiles it on load,
// so a clone runs after `npm ci` with no build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./cli.ts");
process.exitCode = await main(process.argv.slice(2));
