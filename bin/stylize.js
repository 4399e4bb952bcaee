#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx stylize` works without a build step.
import { register } from 'tsx/esm/api';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

register();
const here = path.dirname(fileURLToPath(import.meta.url));
const { runCli } = await import(pathToFileURL(path.join(here, '..', 'companion', 'cli', 'main.ts')).href);
await runCli(process.argv.slice(2));
