#!/usr/bin/env node
// The `lxcri` command. A published package runs the compiled CLI from dist/; a source checkout
// without a build runs the TypeScript sources through tsx (a devDependency).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
let cli;
if (existsSync(compiled)) {
  cli = await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../src/cli/main.ts', import.meta.url).href);
}

// Ctrl-C (or SIGTERM) aborts the command through its AbortSignal, so a create rolls back what it
// made; a second Ctrl-C exits at once.
const controller = new AbortController();
const onSignal = (name) => {
  if (controller.signal.aborted) process.exit(130);
  process.stderr.write(`\nlxcri: ${name}: cancelling (press Ctrl-C again to exit at once)\n`);
  controller.abort(new Error(`interrupted by ${name}`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

process.exitCode = await cli.main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
});
process.off('SIGINT', onSignal);
process.off('SIGTERM', onSignal);
