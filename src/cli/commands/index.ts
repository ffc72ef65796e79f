import type { CliCommand } from '../types.js';

/**
 * A subcommand as `lxcri` lists it: its name and summary here, the rest (usage, options, the
 * code and its dependencies) in its own module, imported only when that command runs or its
 * help is asked for. Start-up so loads one command's module graph, not every command's.
 */
export interface LazyCliCommand {
  /** The word after `lxcri`. */
  name: string;
  /** One line for `lxcri --help` (the same as the loaded command's `summary`). */
  summary: string;
  /** Imports the command's module. */
  load(): Promise<CliCommand>;
  /**
   * Started before the module is imported (not for `--help`), so what its run needs first boots
   * meanwhile on another core: `unpack` starts the layer worker thread.
   */
  prepare?(): Promise<void>;
}

/** A command given to `main()`: loaded (tests pass these) or lazy (the real list). */
export type CliCommandEntry = CliCommand | LazyCliCommand;

/** The command behind an entry, importing its module when the entry is lazy. */
export async function loadCommand(entry: CliCommandEntry): Promise<CliCommand> {
  return 'load' in entry ? entry.load() : entry;
}

/** Boots the worker thread that inflates layers (see `oci/layers/layer-worker.ts`). */
const prestartLayerWorker = async (): Promise<void> => {
  (await import('../../oci/layers/layer-worker.js')).prestartLayerWorker();
};

/**
 * Every `lxcri` subcommand, in the order `lxcri --help` lists them. Each lives in its own file
 * in this folder and is added here with its name, summary and loader.
 */
export const commands: readonly LazyCliCommand[] = [
  { name: 'demo', summary: 'create real containers on the embedded defaults (simulator + demo image)', load: async () => (await import('./demo.js')).demoCommand },
  { name: 'pod', summary: 'run, remove or list pod sandboxes', load: async () => (await import('./pod.js')).podCommand },
  { name: 'create', summary: 'create a container from a CRI request (crun/runc or Proxmox VE LXC)', load: async () => (await import('./create.js')).createCommand },
  { name: 'start', summary: 'start a created container', load: async () => (await import('./start.js')).startCommand },
  { name: 'stop', summary: 'stop a running container', load: async () => (await import('./stop.js')).stopCommand },
  { name: 'rm', summary: 'remove containers (bundle or CT included)', load: async () => (await import('./rm.js')).rmCommand },
  { name: 'ps', summary: 'list containers', load: async () => (await import('./ps.js')).psCommand },
  { name: 'inspect', summary: "show a container's status", load: async () => (await import('./inspect.js')).inspectCommand },
  { name: 'reconcile', summary: 'compare the state dir with crun/runc and Proxmox VE; clean up', load: async () => (await import('./reconcile.js')).reconcileCommand },
  {
    name: 'validate',
    summary: 'validate and normalise a CRI CreateContainerRequest (or crictl container config + pod config)',
    load: async () => (await import('./validate.js')).validateCommand,
  },
  {
    name: 'select',
    summary: 'choose crun or Proxmox LXC for a CreateContainerRequest, with the reason and a trace',
    load: async () => (await import('./select.js')).selectCommand,
  },
  { name: 'unpack', summary: 'unpack an OCI image layout into OUT/rootfs (like umoci unpack)', load: async () => (await import('./unpack.js')).unpackCommand, prepare: prestartLayerWorker },
  { name: 'bundle', summary: 'write an OCI bundle (rootfs + config.json) from an image and a CRI request', load: async () => (await import('./bundle.js')).bundleCommand },
  {
    name: 'simulator',
    summary: 'run the Proxmox VE API simulator over HTTPS (prints URL, fingerprint and a token)',
    load: async () => (await import('./simulator.js')).simulatorCommand,
  },
  { name: 'pull', summary: 'pull an image from a registry into an image store (OCI layout)', load: async () => (await import('./pull.js')).pullCommand },
  { name: 'images', summary: 'list, remove and garbage-collect the images of an image store', load: async () => (await import('./images.js')).imagesCommand },
];
