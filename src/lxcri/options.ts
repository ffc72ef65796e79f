/**
 * Options of {@link Lxcri}: one zod schema, the single source of truth for what users pass and
 * for the defaults. `lxcri --config FILE` reads the same object as JSON.
 *
 * @module
 */
import { z } from 'zod';
import { parseOptions } from '../options.js';
import { loggerSchema } from '../internal/schemas.js';
import type { ProxmoxClientOptions } from '../proxmox/options.js';

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

/** The object form of `images` in {@link LxcriOptions}. */
export const lxcriImagesObjectSchema = z.strictObject({
  /**
   * OCI image layout directories, tried first and in order.
   * @defaultValue `[]`
   */
  layouts: z.array(z.string().min(1)).default([]),
  /**
   * The registry image store: an OCI image layout directory that images are pulled into.
   * @defaultValue none (no pulling)
   */
  store: z.string().min(1).optional(),
  /**
   * kubelet's imagePullPolicy: `if-missing` pulls what the store lacks, `always` asks the registry
   * every time (blobs in the store are not fetched again), `never` uses the store only.
   * @defaultValue `'if-missing'`
   */
  pullPolicy: z.enum(['if-missing', 'always', 'never']).default('if-missing'),
  /**
   * A docker/containers auth file (`{"auths": {...}}`); without it the usual files are looked for
   * (`REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`, `DOCKER_CONFIG`, `~/.docker/config.json`).
   * @defaultValue none
   */
  authFile: z.string().min(1).optional(),
  /**
   * A PEM file of CA certificates to trust for registries instead of the system store.
   * @defaultValue the system CAs
   */
  caFile: z.string().min(1).optional(),
  /**
   * Registries (`host[:port]`) spoken to over plain HTTP. Never a default.
   * @defaultValue `[]`
   */
  insecureRegistries: z.array(z.string().min(1)).default([]),
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
   * Where images come from. A directory or a list of directories: OCI image layouts (skopeo/umoci)
   * to resolve `config.image.image` in, tried in order. Or an object that adds a registry `store`
   * (an OCI layout that `pullImage` fills) with a kubelet-style `pullPolicy`: the `layouts` are
   * tried first, then the store, which pulls what it lacks. Relative paths are relative to the
   * process's working directory.
   * @defaultValue `[]` (then every create fails with NotFound for its image)
   */
  images: z
    .union([z.string().min(1), z.array(z.string().min(1)), lxcriImagesObjectSchema])
    .default([])
    .transform((v): z.output<typeof lxcriImagesObjectSchema> => (typeof v === 'string' ? { layouts: [v], pullPolicy: 'if-missing', insecureRegistries: [] } : Array.isArray(v) ? { layouts: v, pullPolicy: 'if-missing', insecureRegistries: [] } : v)),
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
  logger: loggerSchema.optional(),
});

/** What users pass to `new Lxcri(...)` and to `createContainer(request, options)`. */
export type LxcriOptions = z.input<typeof lxcriOptionsSchema>;
/** {@link LxcriOptions} after defaults. */
export type ResolvedLxcriOptions = z.output<typeof lxcriOptionsSchema>;

/** Parses {@link LxcriOptions}; throws `InvalidOptionsError` naming every bad field. */
export function resolveLxcriOptions(options: unknown): ResolvedLxcriOptions {
  return parseOptions(lxcriOptionsSchema, options ?? {}, 'Lxcri options');
}
