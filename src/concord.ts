#!/usr/bin/env node
/**
 * The `concord` command as the package ships it: built to dist/src/concord.js
 * (package.json "bin"), run by plain node. It loads only the dispatcher; each
 * command's code is imported when that command runs (see cli.ts).
 */
import { main } from "./cli.ts";

process.exitCode = await main(process.argv.slice(2));
