/**
 * Reading OCI image documents (index, manifest, image config) without loading zod for valid ones.
 *
 * The zod schemas of `./types.ts` are the source of truth and give the precise message of an
 * invalid document, but loading zod is about 60 ms of a short process (a `lxcri pull`). So a
 * document is first checked here against the same shapes by hand; only when this check does not
 * accept it is `./types.ts` imported and the document parsed by its schema, which then throws the
 * error it always threw. The check is conservative: whatever it accepts, the schema accepts with
 * the same output (keys of the schema first, in its order, then the others; `null` read as absent).
 *
 * @module
 */
import type { z } from 'zod';
import { ImageError } from '../../errors.js';
import type { OciImageConfig, OciIndex, OciManifest } from './types.js';

/** Replaces `null` by "absent" in an object and in its nested plain objects (depth-limited). */
export function dropNulls(value: unknown, depth = 0): unknown {
  if (depth > 8 || typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => dropNulls(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v !== null) out[k] = dropNulls(v, depth + 1);
  }
  return out;
}

/**
 * Parses a JSON document with a schema, turning failures into an `ImageError` that names the field.
 */
export function parseDocument<S extends z.ZodType>(schema: S, value: unknown, what: string, details: { digest?: string; path?: string } = {}): z.output<S> {
  const result = schema.safeParse(dropNulls(value));
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue ? issue.path.map(String).join('.') : '';
    throw new ImageError(`${what} is not valid: ${field ? `${field}: ` : ''}${issue?.message ?? 'invalid'}`, { ...details, reason: 'invalid document' });
  }
  return result.data;
}

// ---------------------------------------------------------------------------------------------
// The fast check: the shapes of ./types.ts, by hand

/** Returned by a check that does not accept its value. */
const FAIL: unique symbol = Symbol('fail');
type Check = (value: unknown) => unknown;

const isPlainObject = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

const string: Check = (v) => (typeof v === 'string' ? v : FAIL);
const boolean: Check = (v) => (typeof v === 'boolean' ? v : FAIL);
const size: Check = (v) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : FAIL);
const two: Check = (v) => (v === 2 ? v : FAIL);
const arrayOf =
  (element: Check): Check =>
  (v) => {
    if (!Array.isArray(v)) return FAIL;
    const out: unknown[] = [];
    for (const item of v) {
      const r = element(item);
      if (r === FAIL) return FAIL;
      out.push(r);
    }
    return out;
  };
const recordOf =
  (value: Check | undefined): Check =>
  (v) => {
    if (!isPlainObject(v)) return FAIL;
    const out: Record<string, unknown> = {};
    for (const [k, item] of Object.entries(v)) {
      const r = value === undefined ? item : value(item);
      if (r === FAIL) return FAIL;
      out[k] = r;
    }
    return out;
  };
/** A `looseObject`: the listed keys checked (`?` = optional), the others passed through. */
const loose = (shape: Record<string, Check>): Check => {
  const keys = Object.keys(shape).map((k) => ({ key: k.replace(/\?$/, ''), optional: k.endsWith('?'), check: shape[k] as Check }));
  const known = new Set(keys.map((k) => k.key));
  return (v) => {
    if (!isPlainObject(v)) return FAIL;
    const out: Record<string, unknown> = {};
    for (const { key, optional, check } of keys) {
      const item = v[key];
      if (item === undefined) {
        if (!optional) return FAIL;
        continue;
      }
      const r = check(item);
      if (r === FAIL) return FAIL;
      out[key] = r;
    }
    for (const [k, item] of Object.entries(v)) if (!known.has(k)) out[k] = item;
    return out;
  };
};

const stringRecord = recordOf(string);
const platform = loose({ architecture: string, os: string, 'os.version?': string, 'os.features?': arrayOf(string), 'variant?': string });
const descriptor = loose({
  mediaType: string,
  digest: string,
  size,
  'urls?': arrayOf(string),
  'annotations?': stringRecord,
  'platform?': platform,
  'artifactType?': string,
});
const index = loose({ schemaVersion: two, 'mediaType?': string, manifests: arrayOf(descriptor), 'annotations?': stringRecord });
const manifest = loose({ schemaVersion: two, 'mediaType?': string, config: descriptor, layers: arrayOf(descriptor), 'annotations?': stringRecord });
const runConfig = loose({
  'User?': string,
  'ExposedPorts?': recordOf(undefined),
  'Env?': arrayOf(string),
  'Entrypoint?': arrayOf(string),
  'Cmd?': arrayOf(string),
  'Volumes?': recordOf(undefined),
  'WorkingDir?': string,
  'Labels?': stringRecord,
  'StopSignal?': string,
  'ArgsEscaped?': boolean,
});
const history = loose({ 'created?': string, 'author?': string, 'created_by?': string, 'comment?': string, 'empty_layer?': boolean });
const imageConfig = loose({
  'created?': string,
  'author?': string,
  architecture: string,
  os: string,
  'os.version?': string,
  'os.features?': arrayOf(string),
  'variant?': string,
  'config?': runConfig,
  rootfs: loose({ type: string, diff_ids: arrayOf(string) }),
  'history?': arrayOf(history),
});

/** The kinds of documents {@link readImageDocument} reads. */
export interface ImageDocuments {
  index: OciIndex;
  manifest: OciManifest;
  config: OciImageConfig;
}

const FAST: Readonly<Record<keyof ImageDocuments, Check>> = { index, manifest, config: imageConfig };

/**
 * The document when the fast check accepts it, else `undefined` (then only the schema can say
 * whether and why it is invalid).
 */
export function fastImageDocument<K extends keyof ImageDocuments>(kind: K, value: unknown): ImageDocuments[K] | undefined {
  const r = FAST[kind](dropNulls(value));
  return r === FAIL ? undefined : (r as ImageDocuments[K]);
}

/**
 * Parses an index, manifest or image config (JSON already parsed): the fast check, else the zod
 * schema of `./types.ts` (imported then), whose `ImageError` names the invalid field.
 * @throws ImageError (`reason: 'invalid document'`)
 */
export async function readImageDocument<K extends keyof ImageDocuments>(kind: K, value: unknown, what: string, details: { digest?: string; path?: string } = {}): Promise<ImageDocuments[K]> {
  const fast = fastImageDocument(kind, value);
  if (fast !== undefined) return fast;
  const types = await import('./types.js');
  const schema = kind === 'index' ? types.ociIndexSchema : kind === 'manifest' ? types.ociManifestSchema : types.ociImageConfigSchema;
  return parseDocument(schema, value, what, details) as ImageDocuments[K];
}
