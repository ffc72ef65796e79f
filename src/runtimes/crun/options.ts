/**
 * Options of the OCI runtime driver, parsed once with zod (strict: unknown keys are rejected).
 *
 * @module
 */
import { parseOptions } from '../../options.js';
import type { spawn as nodeSpawn } from 'node:child_process';
import { z } from 'zod';
import { silentLogger } from '../../logger.js';
import { loggerSchema } from '../../internal/schemas.js';

/** The process spawner the driver uses: `child_process.spawn` or a compatible function. */
export type SpawnFunction = typeof nodeSpawn;

/** zod schema of {@link OciRuntimeDriverOptions}: the single source of truth for the options and their defaults. */
export const ociRuntimeDriverOptionsSchema = z.strictObject({
  /**
   * The OCI runtime binary: `crun`, `runc`, or a path to one.
   * @defaultValue `'crun'`
   */
  runtime: z.string().min(1).default('crun'),
  /**
   * Words put before the runtime binary on every invocation, e.g. a wrapper such as
   * `['unshare', '-m', '--', 'sh', '-c', 'umount /sys/fs/cgroup/unified && exec "$0" "$@"']`
   * (the crun workaround for hybrid cgroup hosts, see DEVELOPERS.md).
   * @defaultValue `[]`
   */
  commandPrefix: z.array(z.string().min(1)).default([]),
  /**
   * Global runtime arguments put before the subcommand, e.g. `['--root', '/run/my-crun', '--cgroup-manager=disabled']`.
   * @defaultValue `[]`
   */
  globalArgs: z.array(z.string()).default([]),
  /**
   * Directory where the driver keeps per-container monitor state (pid file, exit status, monitor log).
   * Created with mode 0700 when missing.
   * @defaultValue `'/run/lxcri/oci'`
   */
  stateDir: z.string().min(1).default('/run/lxcri/oci'),
  /**
   * The Perl interpreter that runs the container monitor (see `monitor-script.ts`).
   * @defaultValue `'perl'`
   */
  perl: z.string().min(1).default('perl'),
  /**
   * Deadline of one runtime invocation (create, start, state, kill, delete), in milliseconds.
   * @defaultValue `60000`
   */
  timeoutMs: z.number().int().positive().default(60_000),
  /**
   * Where the driver logs (pino-compatible).
   * @defaultValue the silent logger
   */
  logger: loggerSchema.default(silentLogger),
  /**
   * The process spawner (injected for tests and for wrapping).
   * @defaultValue `child_process.spawn`
   */
  spawn: z.custom<SpawnFunction>((v) => typeof v === 'function', { message: 'expected a spawn function' }).optional(),
});

/** What users pass to `new OciRuntimeDriver(...)`. */
export type OciRuntimeDriverOptions = z.input<typeof ociRuntimeDriverOptionsSchema>;
/** The options after defaults. */
export type ResolvedOciRuntimeDriverOptions = z.output<typeof ociRuntimeDriverOptionsSchema>;

/** Parses driver options; throws {@link InvalidOptionsError} naming every bad field. */
export function resolveOciRuntimeDriverOptions(options: unknown): ResolvedOciRuntimeDriverOptions {
  return parseOptions(ociRuntimeDriverOptionsSchema, options ?? {}, 'OCI runtime driver options');
}
