/**
 * Options of {@link Lxcri}: one zod schema, the single source of truth for what users pass and
 * for the defaults. `lxcri --config FILE` reads the same object as JSON.
 *
 * @module
 */
import { z } from 'zod';
import { parseOptions } from '../options.js';
import type { Logger } from '../logger.js';
import type { ProxmoxClientOptions } from '../proxmox/options.js';

const isLogger = (v: unknown): v is Logger =>
  typeof v === 'object' && v !== null && ['debug', 'info', 'warn', 'error'].every((k) => typeof (v as Record<string, unknown>)[k] === 'function');

/** zod schema of the `oci` part of {@link LxcriOptions}: how containers run on this node. */
export const lxcriOciOptionsSchema = z.strictObject({
  /**
   * The OCI runtime: `crun`, `runc`, a path to one, or `auto` (crun when it is on PATH and works
   * on this host, else runc). On a hybrid cgroup v1/v2 host crun 1.8 needs the workaround of
   * DEVELOPERS.md; `auto` applies it by itself.
   * @defaultValue `'auto'`
   */
  runtime: z.string().min(1).default('auto'),
  /**
   * Words put before the runtime binary on every call (e.g. the crun hybrid-cgroup workaround).
   * @defaultValue `[]` (with `runtime: 'auto'`: the workaround when crun is chosen on a hybrid host)
   */
  commandPrefix: z.array(z.string().min(1)).optional(),
  /**
   * Global runtime arguments before the subcommand (e.g. `['--systemd-cgroup']`). `--root` is
   * added from `root`.
   * @defaultValue `[]`
   */
  globalArgs: z.array(z.string()).default([]),
  /**
   * The runtime's state root (`--root`), so lxcri's containers do not mix with others'.
   * @defaultValue `<stateDir>/run/<runtime name>`
   */
  root: z.string().min(1).optional(),
  /**
   * cgroup handling: `cgroupfs` (the runtime's default), `systemd` (`--systemd-cgroup`), or
   * `disabled` (crun's `--cgroup-manager=disabled`: no cgroup, no resource limits).
   * @defaultValue `'cgroupfs'` (`'disabled'` when `auto` chose crun on a hybrid host)
   */
  cgroupManager: z.enum(['cgroupfs', 'systemd', 'disabled']).optional(),
  /**
   * How container root filesystems are made over the layer cache: overlayfs (root only), a copy,
   * or overlay when possible.
   * @defaultValue `'auto'`
   */
  rootfsMode: z.enum(['auto', 'overlay', 'copy']).default('auto'),
  /**
   * Give each crun pod its own network, IPC and UTS namespaces (persistent namespace files under
   * the state dir), which its containers join, as a pause container does under containerd.
   * Needs root and util-linux `unshare`; off, each container gets its own namespaces.
   * @defaultValue true when running as root
   */
  podNamespaces: z.boolean().optional(),
  /**
   * Deadline of one runtime call, in milliseconds.
   * @defaultValue `60000`
   */
  timeoutMs: z.number().int().positive().default(60_000),
});

/** zod schema of the `proxmox` part of {@link LxcriOptions}: the PVE API and the LXC runtime. */
export const lxcriProxmoxOptionsSchema = z.strictObject({
  /**
   * `ProxmoxClient` options (baseUrl, auth, tls, timeouts, ...); see the client's documentation.
   */
  client: z.custom<ProxmoxClientOptions>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'expected ProxmoxClient options (an object with baseUrl and auth)'),
  /**
   * Options of the LXC runtime (node, storages, bridge, mode, ...); see `ProxmoxLxcRuntime`.
   * @defaultValue `{}`
   */
  lxc: z.record(z.string(), z.unknown()).default({}),
});

/** zod schema of {@link LxcriOptions}. */
export const lxcriOptionsSchema = z.strictObject({
  /**
   * Where lxcri keeps its state: sandbox and container records, bundles, the layer cache, pod
   * files and the OCI runtime's state. Created with mode 0700.
   * @defaultValue `'/var/lib/lxcri'`
   */
  stateDir: z.string().min(1).default('/var/lib/lxcri'),
  /**
   * OCI image layout directories to resolve `config.image.image` in (skopeo/umoci layouts), tried
   * in order. A relative path is relative to the process's working directory.
   * @defaultValue `[]` (then every create fails with NotFound for its image)
   */
  images: z.union([z.string().min(1), z.array(z.string().min(1))]).default([]).transform((v) => (typeof v === 'string' ? [v] : v)),
  /**
   * Image platform to pick from multi-platform indexes, `os/arch[/variant]`.
   * @defaultValue the node's (`linux/amd64` on x86-64)
   */
  platform: z.string().regex(/^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/, 'platform must be os/arch[/variant]').optional(),
  /**
   * The runtime policy (see docs/runtime-selection.md), or the path of a JSON file holding one.
   * @defaultValue `{ defaultRuntime: 'crun' }`
   */
  policy: z.union([z.string().min(1), z.record(z.string(), z.unknown())]).default({ defaultRuntime: 'crun' }),
  /**
   * OCI runtime settings for containers on this node.
   * @defaultValue `{}`
   */
  oci: lxcriOciOptionsSchema.default(lxcriOciOptionsSchema.parse({})),
  /**
   * The Proxmox VE API and the LXC runtime. Without it, `proxmox-lxc` is unavailable.
   * @defaultValue none
   */
  proxmox: lxcriProxmoxOptionsSchema.optional(),
  /**
   * Check requests against this host (host paths, devices, mount propagation, AppArmor), as
   * containerd does at create.
   * @defaultValue `true`
   */
  hostChecks: z.boolean().default(true),
  /**
   * Where lxcri logs (pino-compatible); secrets are redacted before they reach it.
   * @defaultValue the silent logger
   */
  logger: z.custom<Logger>(isLogger, 'expected a logger with debug/info/warn/error methods').optional(),
});

/** What users pass to `new Lxcri(...)` and to `createContainer(request, options)`. */
export type LxcriOptions = z.input<typeof lxcriOptionsSchema>;
/** {@link LxcriOptions} after defaults. */
export type ResolvedLxcriOptions = z.output<typeof lxcriOptionsSchema>;

/** Parses {@link LxcriOptions}; throws `InvalidOptionsError` naming every bad field. */
export function resolveLxcriOptions(options: unknown): ResolvedLxcriOptions {
  return parseOptions(lxcriOptionsSchema, options ?? {}, 'Lxcri options');
}
