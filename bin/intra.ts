#!/usr/bin/env node
// The `intra` CLI entry.
import { runCli } from '../lib/cli/index.js';

await runCli(process.argv.slice(2));
