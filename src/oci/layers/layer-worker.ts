/**
 * Starting the worker thread that reads layers (`decompress-worker.ts`) — and starting it early:
 * a worker takes about 30–40 ms to boot (its own V8 isolate and Node bootstrap) before it can
 * read the first layer. {@link prestartLayerWorker} boots one ahead, on another core, while the
 * caller still loads modules and resolves the image (`lxcri unpack` calls it before it imports
 * its code); the next {@link startLayerWorker} takes it.
 *
 * @internal
 * @module
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * How the worker module is started. Built (`dist/`), it is the compiled `decompress-worker.js`;
 * in a source checkout (tests, `tsx`) only `decompress-worker.ts` exists, and the worker
 * registers tsx (a devDependency) before it loads the TypeScript module.
 */
function workerEntry(): { source: string | URL; eval: boolean } {
  const compiled = new URL('./decompress-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return { source: compiled, eval: false };
  const source = fileURLToPath(new URL('./decompress-worker.ts', import.meta.url));
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  return { source: `require(${JSON.stringify(tsx)}).register();\nrequire(${JSON.stringify(source)});\n`, eval: true };
}

let entry: ReturnType<typeof workerEntry> | undefined;
/** A worker booted ahead and not taken yet (unreferenced: it never keeps the process alive). */
let spare: Worker | undefined;

function newWorker(): Worker {
  entry ??= workerEntry();
  return new Worker(entry.source, { eval: entry.eval });
}

/**
 * Boots a layer worker now for the next {@link startLayerWorker}, unless one is waiting already.
 * It does not keep the process alive; if nothing takes it, it ends with the process.
 * @returns the waiting worker
 */
export function prestartLayerWorker(): Worker {
  if (spare) return spare;
  const worker = newWorker();
  worker.unref();
  // a spare that fails to boot is dropped; the next start makes a new one and reports its error
  const drop = (): void => {
    if (spare === worker) spare = undefined;
  };
  worker.on('error', drop);
  worker.once('exit', drop);
  spare = worker;
  return worker;
}

/** A layer worker: the prestarted one when there is one, else a new one. */
export function startLayerWorker(): Worker {
  const worker = spare;
  spare = undefined;
  if (!worker) return newWorker();
  worker.ref();
  worker.removeAllListeners('error').removeAllListeners('exit');
  return worker;
}
