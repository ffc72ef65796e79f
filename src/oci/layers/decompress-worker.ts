/**
 * The worker thread of {@link LayerInflater} (`decompress.ts`): serves layer jobs
 * (`layer-jobs.ts`) on its `parentPort`. Started only as a worker, by `LayerInflater`.
 *
 * @internal
 * @module
 */
import { parentPort } from 'node:worker_threads';
import { serveLayerJobs } from './layer-jobs.js';

if (parentPort) serveLayerJobs(parentPort);
