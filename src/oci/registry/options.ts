/**
 * The zod schemas of the registry part's options (`pullImage`, `ensureImage`, the store's
 * `listImages`, `removeImage`, `gcImages`). A pull checks its options by hand when they have the
 * common shapes (`./pull.ts`) and imports this module (and zod) only for other input, whose
 * errors it then reports; the store's housekeeping imports it when called.
 *
 * @module
 */
import { z } from 'zod';
import { callbackSchema, loggerSchema, signalSchema } from '../../internal/schemas.js';
import type { ImageLayout } from '../image/layout.js';
import type { PullProgress } from './pull.js';

/** Schema of a `store` option. */
export const storeSchema = z.union([z.string().min(1), z.custom<ImageLayout>((v) => typeof v === 'object' && v !== null && typeof (v as ImageLayout).dir === 'string', 'must be a directory or an ImageLayout')]);

/** Schema of a `platform` option: `os/arch[/variant]` or an object. */
export const platformSchema = z.union([z.string().min(1), z.strictObject({ os: z.string().min(1), architecture: z.string().min(1), variant: z.string().min(1).optional() })]);

/** Options of {@link pullImage}. */
export const pullImageOptionsSchema = z.strictObject({
  /** The image store: a directory (an OCI image layout, created when missing) or an opened `ImageLayout`. */
  store: storeSchema,
  /**
   * The platform to pick from an index: `os/arch[/variant]` or an object.
   * @defaultValue this host's (`linux/amd64` on x86-64)
   */
  platform: platformSchema.optional(),
  /**
   * Credentials: `username` + `password` (or an identity token as password), or an `authFile`
   * in the docker / containers format. Without either, the conventional auth files are searched
   * (`REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`, `DOCKER_CONFIG`, `~/.docker/config.json`)
   * in `env`; with none found the pull is anonymous.
   * @defaultValue the conventional auth files, read from `process.env`
   */
  auth: z
    .strictObject({
      username: z.string().min(1).optional(),
      password: z.string().optional(),
      authFile: z.string().min(1).optional(),
      env: z
        .custom<Readonly<Record<string, string | undefined>>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'must be an object of environment variables')
        .optional(),
    })
    .refine((a) => (a.username === undefined) === (a.password === undefined), { message: 'username and password go together', path: ['password'] })
    .refine((a) => !(a.username !== undefined && a.authFile !== undefined), { message: 'give username/password or authFile, not both', path: ['authFile'] })
    .optional(),
  /**
   * TLS: PEM CA certificate(s) (`ca`) or a file of them (`caFile`) to trust instead of the system store.
   * Certificates are always verified.
   * @defaultValue system CAs
   */
  tls: z.strictObject({ ca: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(), caFile: z.string().min(1).optional() }).optional(),
  /**
   * Registries (`host[:port]` as in the reference) spoken to over plain HTTP. Never a default.
   * @defaultValue none
   */
  insecureRegistries: z.array(z.string().min(1)).default([]),
  /** Cancels the pull; partial downloads stay and a later pull resumes them. @defaultValue none */
  signal: signalSchema.optional(),
  /** Called as bytes arrive and blobs complete. @defaultValue none */
  onProgress: callbackSchema<(progress: PullProgress) => void>().optional(),
  /**
   * Blobs downloaded in parallel.
   * @defaultValue 4
   */
  concurrency: z.number().int().min(1).max(32).default(4),
  /** Where diagnostics go (never credentials). @defaultValue a silent logger */
  logger: loggerSchema.optional(),
  /**
   * Deadline of the whole pull, in milliseconds.
   * @defaultValue 3600000 (one hour)
   */
  timeoutMs: z.number().int().positive().default(3_600_000),
  /**
   * Time to wait for a response's headers, in milliseconds.
   * @defaultValue 30000
   */
  headersTimeoutMs: z.number().int().positive().default(30_000),
  /**
   * Longest pause inside a response body, in milliseconds.
   * @defaultValue 60000
   */
  bodyTimeoutMs: z.number().int().positive().default(60_000),
  /**
   * Retries of idempotent requests: count, backoff bounds, and the longest `Retry-After` honoured.
   * @defaultValue `{ retries: 4, minDelayMs: 200, maxDelayMs: 5000, maxRetryAfterMs: 60000 }`
   */
  retry: z
    .strictObject({
      retries: z.number().int().min(0).max(20).default(4),
      minDelayMs: z.number().int().min(0).default(200),
      maxDelayMs: z.number().int().min(0).default(5000),
      maxRetryAfterMs: z.number().int().min(0).default(60_000),
    })
    .prefault({}),
  /** The `User-Agent` header. @defaultValue `proxmox-lxcri` */
  userAgent: z.string().min(1).default('proxmox-lxcri'),
});

/** Options of {@link ensureImage}: the pull policy and every {@link pullImage} option. */
export const ensureImageOptionsSchema = pullImageOptionsSchema.extend({
  /**
   * `if-missing`: pull only when the store has no image of the reference for the platform;
   * `always`: pull (the registry is asked, blobs in the store are not fetched again);
   * `never`: only the store (a missing image is a `NotFoundError`).
   * @defaultValue `if-missing`
   */
  pullPolicy: z.enum(['if-missing', 'always', 'never']).default('if-missing'),
});

/** Options of {@link listImages}. */
export const listOptionsSchema = z.strictObject({
  /** Cancels the listing. @defaultValue none */
  signal: signalSchema.optional(),
});

/** Options of {@link removeImage}. */
export const removeOptionsSchema = z.strictObject({
  /**
   * Remove only the entry of this platform (`os/arch[/variant]`).
   * @defaultValue every platform stored under the reference
   */
  platform: z.string().min(1).optional(),
  /** Cancels the removal. @defaultValue none */
  signal: signalSchema.optional(),
});

/** Options of {@link gcImages}. */
export const gcOptionsSchema = z.strictObject({
  /**
   * Also remove partial downloads (kept by default so interrupted pulls resume) that no running pull writes.
   * @defaultValue false
   */
  partials: z.boolean().default(false),
  /** Cancels the collection (between blobs). @defaultValue none */
  signal: signalSchema.optional(),
});
