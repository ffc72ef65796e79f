/**
 * Whether a call of {@link ProxmoxClient.request} may be re-sent is a property of the endpoint,
 * not of the HTTP method: `PUT …/resize size=+8G` is a PUT that grows the disk again each time it
 * is sent. Reads are re-sent; writes known to be idempotent are re-sent; everything else is sent
 * once (re-sent only when the failure proves it had no effect).
 *
 * @module
 */
import type { Params } from '../transport/encode.js';
import type { HttpMethod } from '../transport/types.js';
import type { RetryPolicy } from './endpoint.js';
import { allocatesVolume } from './lxc.js';

/**
 * Writes whose effect adds up or that start work when sent twice: never re-sent after a lost
 * answer, whatever the caller says (`resize`, power actions, migrations, snapshots, clones, …).
 */
const NOT_REPEATABLE: readonly RegExp[] = [
  /\/resize$/,
  /\/status\/[^/]+$/,
  /\/(?:remote_)?migrate$/,
  /\/snapshot(?:\/|$)/,
  /\/clone$/,
  /\/template$/,
  /\/move_volume$/,
  /\/(?:move_disk|rollback)$/,
  /\/(?:vnc|term|spice)proxy$/,
  /\/storage\/[^/]+\/(?:upload|download-url|oci-registry-pull)$/,
  /^\/nodes\/[^/]+\/(?:lxc|qemu)$/,
  /\/vzdump$/,
];

/** Writes that leave the same state however often they are sent (a config PUT that allocates nothing). */
const IDEMPOTENT_WRITES: readonly { method: HttpMethod; path: RegExp; unless?: (params: Params) => boolean }[] = [
  { method: 'PUT', path: /^\/nodes\/[^/]+\/(?:lxc|qemu)\/\d+\/config$/, unless: (params) => allocatesVolume(params) },
  { method: 'PUT', path: /^\/nodes\/[^/]+\/(?:dns|time)$/ },
];

/**
 * The retry policy of an arbitrary call: GETs are idempotent; known non-repeatable writes are
 * `not-executed` (re-sent only when the failure proves nothing happened), also when the caller
 * claims otherwise; other writes follow the caller's `idempotent` flag, else a table of known
 * idempotent writes, else `never`.
 */
export function retryPolicyFor(method: HttpMethod, path: string, params: Params = {}, idempotent?: boolean): RetryPolicy {
  if (method === 'GET') return idempotent === false ? 'never' : 'idempotent';
  if (NOT_REPEATABLE.some((re) => re.test(path))) return 'not-executed';
  if (idempotent !== undefined) return idempotent ? 'idempotent' : 'never';
  const known = IDEMPOTENT_WRITES.find((w) => w.method === method && w.path.test(path));
  if (known && !(known.unless?.(params) ?? false)) return 'idempotent';
  return 'never';
}
