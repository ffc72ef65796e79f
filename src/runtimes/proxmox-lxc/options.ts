/**
 * Options of {@link ProxmoxLxcRuntime}, parsed once with zod (strict: unknown keys are rejected).
 *
 * @module
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { silentLogger } from '../../logger.js';
import type { LayerCache } from '../../oci/layers/layer-cache.js';
import { parseOptions } from '../../options.js';
import { loggerSchema } from '../../internal/schemas.js';

const storageId = z.string().regex(/^[a-z][a-z0-9\-_.]*[a-z0-9]$/i, 'a PVE storage id');

/** zod schema of {@link ProxmoxLxcRuntimeOptions}. */
export const proxmoxLxcRuntimeOptionsSchema = z.strictObject({
  /**
   * Where the runtime logs (pino-compatible).
   * @defaultValue the silent logger
   */
  logger: loggerSchema.default(silentLogger),
  /**
   * The node CTs are created on.
   * @defaultValue the online node with the most free memory whose rootfs storage holds `rootdir` (`choosePlacement`)
   */
  node: z.string().min(1).optional(),
  /** Only these nodes are considered by the placement. @defaultValue all */
  nodes: z.array(z.string().min(1)).min(1).optional(),
  /**
   * Storages: `template` must allow `vztmpl` (and be file based), `rootfs` must allow `rootdir`.
   * @defaultValue `{ template: 'local', rootfs: 'local-lvm' }`
   */
  storages: z
    .strictObject({
      template: storageId.default('local'),
      rootfs: storageId.default('local-lvm'),
    })
    .default({ template: 'local', rootfs: 'local-lvm' }),
  /**
   * Size of the root volume in GiB (the pod annotation `lxcri.io/rootfs-size` overrides it).
   * @defaultValue 4 (PVE's default)
   */
  rootfsSizeGiB: z.number().positive().max(131072).default(4),
  /**
   * Bridge of `net0`; `null` creates the CT without a network interface.
   * @defaultValue `'vmbr0'`
   */
  bridge: z.string().regex(/^[-_.\w\d]+$/, 'a bridge name').nullable().default('vmbr0'),
  /** VLAN tag of `net0`. @defaultValue none */
  vlan: z.number().int().min(1).max(4094).optional(),
  /** Enable the PVE firewall on `net0`. @defaultValue false */
  firewall: z.boolean().default(false),
  /**
   * `oci` (PVE ≥ 9.1: upload the image as an OCI archive), `rootfs` (flatten it into a `.tar.gz`
   * template; PVE 8.x), or `auto` (by `GET /version`).
   * @defaultValue `'auto'`
   */
  mode: z.enum(['auto', 'oci', 'rootfs']).default('auto'),
  /**
   * OCI mode only: `upload` writes the image as an OCI archive and uploads it; `registry` asks the
   * node to pull `image.reference` (`oci-registry-pull`; public registries, a tag is required).
   * @defaultValue `'upload'`
   */
  templateSource: z.enum(['upload', 'registry']).default('upload'),
  /**
   * VMIDs are drawn at random from this range (checked with `nextid?vmid=`); without it the
   * client's `allocateVmid` (its own `vmid` options) picks them.
   * @defaultValue the client's allocation
   */
  vmidRange: z
    .strictObject({ min: z.number().int().min(100).max(999_999_999), max: z.number().int().min(100).max(999_999_999) })
    .refine((r) => r.min <= r.max, 'min must not exceed max')
    .optional(),
  /** How many VMIDs are tried before giving up. @defaultValue 10 */
  vmidAttempts: z.number().int().min(1).max(100).default(10),
  /**
   * CT features. `keyctl` and `fuse` (and any feature on a privileged CT) are root@pam only.
   * @defaultValue `{ nesting: true }`
   */
  features: z
    .strictObject({ nesting: z.boolean().default(false), keyctl: z.boolean().default(false), fuse: z.boolean().default(false) })
    .default({ nesting: true, keyctl: false, fuse: false }),
  /**
   * Flattens images for rootfs mode (required for it). Its root is where layers are cached.
   * @defaultValue none (rootfs mode fails with FailedPrecondition)
   */
  layerCache: z.custom<LayerCache>((v) => typeof v === 'object' && v !== null && typeof (v as LayerCache).createRootfs === 'function', 'must be a LayerCache').optional(),
  /**
   * How the layer cache builds the rootfs that is packed (`overlay` needs root).
   * @defaultValue `'auto'`
   */
  rootfsMode: z.enum(['auto', 'overlay', 'copy']).default('auto'),
  /**
   * Directory for temporary template files (each is removed after its upload).
   * @defaultValue `<os tmpdir>/lxcri-templates`
   */
  workDir: z.string().min(1).default(join(tmpdir(), 'lxcri-templates')),
  /**
   * gzip level of rootfs templates (1 fast … 9 small).
   * @defaultValue 6
   */
  gzipLevel: z.number().int().min(1).max(9).default(6),
  /** Deadlines in milliseconds. */
  timeouts: z
    .strictObject({
      /** The create task (template extraction). @defaultValue 600000 */
      createMs: z.number().int().positive().default(600_000),
      /** Uploads and registry pulls, including their task. @defaultValue 3600000 */
      uploadMs: z.number().int().positive().default(3_600_000),
      /** start/stop/destroy tasks, and waiting for a CT lock to clear. @defaultValue 120000 */
      taskMs: z.number().int().positive().default(120_000),
    })
    .default({ createMs: 600_000, uploadMs: 3_600_000, taskMs: 120_000 }),
  /**
   * How often the lock of a CT and the config after a lost answer are polled.
   * @defaultValue 250
   */
  pollMs: z.number().int().positive().default(250),
  /**
   * How long the placement (node, storage checks) and a template found or uploaded on a storage
   * are trusted without asking PVE again, in milliseconds; a failed create forgets them at once.
   * `0` asks every time.
   * @defaultValue 10000
   */
  cacheTtlMs: z.number().int().min(0).max(3_600_000).default(10_000),
  /**
   * Tags added to every CT (besides `lxcri`).
   * @defaultValue `[]`
   */
  tags: z.array(z.string().regex(/^[a-z0-9_][a-z0-9_\-+.]*$/i, 'a PVE tag')).default([]),
});

/** What users pass to `new ProxmoxLxcRuntime(client, options)`. */
export type ProxmoxLxcRuntimeOptions = z.input<typeof proxmoxLxcRuntimeOptionsSchema>;
/** The options after defaults. */
export type ResolvedProxmoxLxcRuntimeOptions = z.output<typeof proxmoxLxcRuntimeOptionsSchema>;

/** Parses runtime options; throws {@link InvalidOptionsError} naming every bad field. */
export function resolveProxmoxLxcRuntimeOptions(options: unknown): ResolvedProxmoxLxcRuntimeOptions {
  return parseOptions(proxmoxLxcRuntimeOptionsSchema, options ?? {}, 'Proxmox LXC runtime options');
}
