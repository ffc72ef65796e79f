/**
 * Options of the Proxmox VE simulator, parsed once with zod (strict: unknown keys are rejected).
 *
 * @module
 */
import { parseOptions } from '../options.js';
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { InvalidOptionsError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { STORAGE_CONTENT_TYPES } from './param-formats.js';
import { loggerSchema } from '../internal/schemas.js';

/** A clock: milliseconds since the epoch. Inject one to test ticket expiry without waiting. */
export interface SimulatorClock {
  now(): number;
}

const NODE_RE = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;
const USERID_RE = /^[^\s:/@!]+@[A-Za-z][A-Za-z0-9.\-_]+$/;
const STORAGE_RE = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;

/** zod schema of one API token of a simulated user. */
export const simulatorTokenSchema = z.strictObject({
  /** The token name (the part after `!`). */
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9.\-_]+$/, 'token names are letters, digits, ., - and _'),
  /** The token secret (a UUID on real PVE). */
  secret: z.string().min(1),
  /**
   * Privilege separation: when true the token has only `privileges`, else the user's.
   * @defaultValue `false`
   */
  privsep: z.boolean().default(false),
  /**
   * The token's privileges when `privsep` is true.
   * @defaultValue `[]`
   */
  privileges: z.array(z.string()).default([]),
  /**
   * Expiry as Unix seconds; 0 = never.
   * @defaultValue `0`
   */
  expire: z.number().int().nonnegative().default(0),
});

/** zod schema of one simulated user. */
export const simulatorUserSchema = z.strictObject({
  /** `user@realm`, e.g. `root@pam`. */
  userid: z.string().regex(USERID_RE, 'expected user@realm'),
  /** The password for `POST /access/ticket`. */
  password: z.string().min(1),
  /**
   * A base32 TOTP secret: when set, logins need the second factor (`NeedTFA`).
   * @defaultValue none (no TFA)
   */
  totpSecret: z.string().regex(/^[A-Za-z2-7=\s]{16,}$/, 'expected a base32 secret of at least 16 characters').optional(),
  /**
   * The user's privileges on every path: `'all'` (Administrator) or a list such as `['VM.Audit']`.
   * `root@pam` always has all of them.
   * @defaultValue `'all'`
   */
  privileges: z.union([z.literal('all'), z.array(z.string())]).default('all'),
  /**
   * The user's API tokens.
   * @defaultValue `[]`
   */
  tokens: z.array(simulatorTokenSchema).default([]),
});

/** zod schema of one simulated storage. */
export const simulatorStorageSchema = z.strictObject({
  /** The storage id, e.g. `local`. */
  id: z.string().regex(STORAGE_RE, 'invalid storage id'),
  /**
   * The plugin type. `dir` storages keep their files in a directory on disk (uploads land there).
   * @defaultValue `'dir'`
   */
  type: z.enum(['dir', 'nfs', 'cifs', 'lvmthin', 'lvm', 'zfspool', 'rbd']).default('dir'),
  /** The content types it holds. */
  content: z.array(z.enum(STORAGE_CONTENT_TYPES as [string, ...string[]])).min(1),
  /**
   * One storage for the whole cluster (true) or one per node (false).
   * @defaultValue `false`
   */
  shared: z.boolean().default(false),
  /**
   * Capacity in bytes.
   * @defaultValue 100 GiB
   */
  size: z.number().int().positive().default(100 * 1024 ** 3),
});

/** zod schema of {@link PveSimulatorOptions}: the single source of truth for the options and their defaults. */
export const pveSimulatorOptionsSchema = z.strictObject({
  /**
   * The PVE release to imitate: parameters, upload extensions and 401 texts follow it.
   * @defaultValue `'9.1'`
   */
  version: z.enum(['8.4', '9.1']).default('9.1'),
  /**
   * The texts of 401 answers for bad tickets and tokens: `'legacy'` (`permission denied - invalid PVE
   * ticket`, token errors in clear, pve-manager ≤ 9.1.4) or `'unified'` (`Authentication failed!`,
   * pve-manager ≥ 9.1.5).
   * @defaultValue `'legacy'` for 8.4, `'unified'` for 9.1
   */
  authErrorStyle: z.enum(['legacy', 'unified']).optional(),
  /**
   * The cluster's node names.
   * @defaultValue `['pve1']`
   */
  nodes: z.array(z.string().regex(NODE_RE, 'invalid node name')).min(1).default(['pve1']),
  /**
   * The storages every node has.
   * @defaultValue `local` (dir: vztmpl, iso, backup, import, snippets) and `local-lvm` (lvmthin: rootdir, images)
   */
  storages: z
    .array(simulatorStorageSchema)
    .min(1)
    .default((): z.output<typeof simulatorStorageSchema>[] => [
      { id: 'local', type: 'dir', content: ['vztmpl', 'iso', 'backup', 'import', 'snippets'], shared: false, size: 100 * 1024 ** 3 },
      { id: 'local-lvm', type: 'lvmthin', content: ['rootdir', 'images'], shared: false, size: 100 * 1024 ** 3 },
    ]),
  /**
   * The users. The default is `root@pam` with a random password and one API token `root@pam!lxcri`
   * with a random secret; read them from `state.credentials`.
   * @defaultValue one root@pam user with a token
   */
  users: z.array(simulatorUserSchema).min(1).optional(),
  /**
   * Where storage directories and uploads live. A temporary directory (removed on close) when unset.
   * @defaultValue a new directory under the OS temp dir
   */
  dataDir: z.string().min(1).optional(),
  /**
   * Ticket (and CSRF token) lifetime in milliseconds.
   * @defaultValue `7200000` (2 h, as PVE)
   */
  ticketLifetimeMs: z.number().int().positive().default(7_200_000),
  /**
   * How long worker tasks run, by task type (`vzcreate`, `vzstart`, `imgcopy`, …) with `default` for the rest, in ms.
   * @defaultValue `{ default: 100 }`
   */
  taskDurationsMs: z.record(z.string(), z.number().int().nonnegative()).default({ default: 100 }),
  /**
   * How long a request waits for a CT config lock held by someone else before
   * `can't lock file '/run/lock/lxc/pve-config-<id>.lock' - got timeout`, in ms.
   * @defaultValue `10000` (PVE's 10 s)
   */
  lockTimeoutMs: z.number().int().nonnegative().default(10_000),
  /**
   * The lock wait of the synchronous part of create (`create_and_lock_config`), in ms.
   * @defaultValue `5000` (PVE's 5 s)
   */
  createLockTimeoutMs: z.number().int().nonnegative().default(5_000),
  /**
   * Delay before every 401 answer, in ms (pveproxy waits 3000).
   * @defaultValue `0`
   */
  authFailureDelayMs: z.number().int().nonnegative().default(0),
  /**
   * The VMID range `GET /cluster/nextid` searches, `[lower, upper)`.
   * @defaultValue `{ lower: 100, upper: 1000000 }`
   */
  nextId: z
    .strictObject({ lower: z.number().int().min(100), upper: z.number().int().max(1_000_000_000) })
    .default({ lower: 100, upper: 1_000_000 }),
  /**
   * What `POST …/oci-registry-pull` and `GET …/query-oci-repo-tags` (9.1) can reach, since the
   * simulator has no network: image reference (`docker.io/library/alpine:3.20`, or the short
   * `alpine:3.20`) → path of an oci-archive on disk (`skopeo copy … oci-archive:FILE`). Add more
   * at run time with `state.ociImages.set(reference, path)`.
   * @defaultValue `{}`
   */
  ociImages: z.record(z.string().min(1), z.string().min(1)).default({}),
  /**
   * The cluster name returned with tickets.
   * @defaultValue `'lxcri-sim'`
   */
  clusterName: z.string().min(1).default('lxcri-sim'),
  /**
   * The clock for tickets, task start times and file times (task durations use real timers).
   * @defaultValue `Date`
   */
  clock: z.custom<SimulatorClock>((v) => typeof v === 'object' && v !== null && typeof (v as SimulatorClock).now === 'function', {
    message: 'expected an object with now()',
  }).default(() => ({ now: () => Date.now() })),
  /**
   * Where the simulator logs (pino-compatible).
   * @defaultValue the silent logger
   */
  logger: loggerSchema.default(silentLogger),
  /**
   * Address the HTTPS server listens on (`startPveSimulator` only).
   * @defaultValue `'127.0.0.1'`
   */
  host: z.string().min(1).default('127.0.0.1'),
  /**
   * Port of the HTTPS server; 0 picks a free one (`startPveSimulator` only).
   * @defaultValue `0`
   */
  port: z.number().int().min(0).max(65535).default(0),
  /**
   * A certificate and key (PEM) to serve instead of a generated self-signed one (`startPveSimulator` only).
   * @defaultValue a self-signed certificate generated at start
   */
  tls: z.strictObject({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
});

/** What users pass to `startPveSimulator` / `PveSimulatorState.create`. */
export type PveSimulatorOptions = z.input<typeof pveSimulatorOptionsSchema>;
/** The options after defaults. */
export type ResolvedPveSimulatorOptions = z.output<typeof pveSimulatorOptionsSchema>;
/** A simulated user, as given in options. */
export type SimulatorUserOptions = z.input<typeof simulatorUserSchema>;
/** A simulated API token, as given in options. */
export type SimulatorTokenOptions = z.input<typeof simulatorTokenSchema>;
/** A simulated storage, as given in options. */
export type SimulatorStorageOptions = z.input<typeof simulatorStorageSchema>;
/** A simulated user after defaults. */
export type SimulatorUser = z.output<typeof simulatorUserSchema>;
/** A simulated storage after defaults. */
export type SimulatorStorage = z.output<typeof simulatorStorageSchema>;

/** Parses simulator options; throws {@link InvalidOptionsError} naming every bad field. */
export function resolvePveSimulatorOptions(options: unknown): ResolvedPveSimulatorOptions {
  const resolved = parseOptions(pveSimulatorOptionsSchema, options ?? {}, 'PVE simulator options');
  const storageIds = new Set<string>();
  for (const storage of resolved.storages) {
    if (storageIds.has(storage.id)) throw new InvalidOptionsError(`invalid PVE simulator options: storages: duplicate id '${storage.id}'`);
    storageIds.add(storage.id);
  }
  if (new Set(resolved.nodes).size !== resolved.nodes.length) throw new InvalidOptionsError('invalid PVE simulator options: nodes: duplicate node name');
  if (resolved.nextId.lower >= resolved.nextId.upper) throw new InvalidOptionsError('invalid PVE simulator options: nextId: lower must be below upper');
  return resolved;
}

/**
 * Builds a simulated user for `options.users`.
 * @param userid - `user@realm`, e.g. `alice@pve`
 * @param password - the login password
 * @param extra - a TOTP secret (enables TFA), privileges, tokens
 */
export function createSimulatorUser(
  userid: string,
  password: string,
  extra: Omit<SimulatorUserOptions, 'userid' | 'password'> = {},
): SimulatorUserOptions {
  return simulatorUserSchema.parse({ ...extra, userid, password });
}

/**
 * Builds an API token for a simulated user's `tokens`; the secret is a random UUID unless given.
 * @param name - the token name (after `!`)
 */
export function createSimulatorToken(name: string, extra: Omit<SimulatorTokenOptions, 'name' | 'secret'> & { secret?: string } = {}): SimulatorTokenOptions {
  return simulatorTokenSchema.parse({ ...extra, name, secret: extra.secret ?? randomUUID() });
}

/** The default user list: root@pam with a random password and the token `root@pam!lxcri`. */
export function createDefaultSimulatorUsers(): SimulatorUserOptions[] {
  return [createSimulatorUser('root@pam', randomBytes(12).toString('base64url'), { tokens: [createSimulatorToken('lxcri')] })];
}
