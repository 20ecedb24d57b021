#!/usr/bin/env node
// The `grow` command. Runs the compiled CLI from dist/ (built by `npm ci` through the `prepare`
// script, or `npm run build`) so a no-op `grow status` starts fast; with GROW_DEV=1, or when
// dist/ is missing, it runs the TypeScript sources directly through tsx.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const compiled = here('../dist/src/pipeline/cli.js');
if (process.env.GROW_DEV !== '1' && existsSync(compiled)) {
  const { main } = await import(pathToFileURL(compiled).href);
  await main(process.argv.slice(2));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import(pathToFileURL(here('../src/pipeline/cli.ts')).href);
  await main(process.argv.slice(2));
}
