import { resolve } from 'node:path';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, UsageError } from '../util.js';

const usage = `Usage: lxcri images --store DIR [--rm REFERENCE]... [--gc]

Lists the images of an image store (the OCI layout 'lxcri pull' writes): one entry per
reference and platform. --rm removes references (a name or a manifest digest) from the store's
index; --gc then deletes the blobs no image uses any more (a running pull's blobs are kept).

Prints JSON: { images: [{ reference, digest, mediaType, platform, configDigest, size }], removed?, gc? }.`;

/** `lxcri images`: list (and prune) an image store. */
export const imagesCommand: CliCommand = {
  name: 'images',
  summary: 'list, remove and garbage-collect the images of an image store',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      store: { type: 'string' },
      rm: { type: 'string', multiple: true },
      gc: { type: 'boolean' },
    });
    if (positionals.length !== 0) throw new UsageError('unexpected arguments');
    const storeArg = values['store'];
    if (typeof storeArg !== 'string' || storeArg === '') throw new UsageError('--store DIR is required');
    const store = resolve(io.cwd, storeArg);
    // loaded here, not with the command: `lxcri images --help` needs none of the store's modules (zod)
    const { gcImages, listImages, removeImage } = await import('../../oci/registry/store.js');
    const signal = io.signal ? { signal: io.signal } : {};
    const removed: string[] = [];
    const rm = values['rm'];
    for (const ref of Array.isArray(rm) ? rm : []) {
      if (typeof ref !== 'string') continue;
      for (const entry of await removeImage(store, ref, signal)) removed.push(entry.reference ?? entry.digest);
    }
    const collected = values['gc'] === true ? await gcImages(store, signal) : undefined;
    printJson(io, {
      images: await listImages(store, signal),
      ...(removed.length > 0 ? { removed } : {}),
      ...(collected ? { gc: { removedBlobs: collected.removed.length, bytes: collected.bytes } } : {}),
    });
    return 0;
  },
};
