/**
 * Registry credentials from the docker / containers auth file format:
 * `{"auths": {"registry.example": {"auth": base64("user:pass")}}}` (also `username`/`password`
 * fields and `identitytoken`), looked up the way podman, skopeo and docker do:
 * `REGISTRY_AUTH_FILE`, `$XDG_RUNTIME_DIR/containers/auth.json`, `$HOME/.config/containers/auth.json`,
 * `$DOCKER_CONFIG/config.json`, `$HOME/.docker/config.json` (the first file that has an entry
 * for the registry wins). Keys may be a host, a `host/namespace/repo` prefix (the longest match
 * wins), or a URL (`https://index.docker.io/v1/`).
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ImageError } from '../../errors.js';

/** A user name and password (or an identity token in `password`). */
export interface RegistryCredentials {
  username: string;
  password: string;
}

/** Hosts that all mean Docker Hub. */
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/** The files searched for credentials, in order, given the environment. */
export function authFileCandidates(env: Readonly<Record<string, string | undefined>>): string[] {
  const out: string[] = [];
  const home = env['HOME'];
  if (env['REGISTRY_AUTH_FILE']) out.push(env['REGISTRY_AUTH_FILE']);
  if (env['XDG_RUNTIME_DIR']) out.push(join(env['XDG_RUNTIME_DIR'], 'containers', 'auth.json'));
  if (home) out.push(join(home, '.config', 'containers', 'auth.json'));
  if (env['DOCKER_CONFIG']) out.push(join(env['DOCKER_CONFIG'], 'config.json'));
  if (home) out.push(join(home, '.docker', 'config.json'));
  return out;
}

/** `https://index.docker.io/v1/` → `index.docker.io`; `quay.io/ns/repo` stays. Docker Hub hosts become `docker.io`. */
function normalizeKey(key: string): string {
  let k = key.trim();
  k = k.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  k = k.replace(/\/+$/, '');
  const slash = k.indexOf('/');
  let host = slash === -1 ? k : k.slice(0, slash);
  let path = slash === -1 ? '' : k.slice(slash + 1);
  host = host.toLowerCase();
  if (DOCKER_HUB.has(host)) {
    host = 'docker.io';
    if (path === 'v1' || path === 'v2') path = '';
  }
  return path ? `${host}/${path}` : host;
}

function decodeEntry(value: unknown, file: string, key: string): RegistryCredentials | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const entry = value as { auth?: unknown; username?: unknown; password?: unknown; identitytoken?: unknown };
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw new ImageError(`auth file ${file}: the auth entry of '${key.slice(0, 200)}' is not base64 of user:password`, { path: file, reason: 'invalid auth file' });
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string' && entry.username !== '') return { username: entry.username, password: entry.password };
  if (typeof entry.identitytoken === 'string' && entry.identitytoken !== '') return { username: '<token>', password: entry.identitytoken };
  return undefined;
}

/**
 * Finds credentials for `registry` (a host, `docker.io` for Docker Hub) and `repository` in one
 * auth file. Returns `undefined` when the file does not exist or has no entry.
 * @throws ImageError when the file exists but is not valid (the message never shows its content)
 */
export async function credentialsFromAuthFile(file: string, registry: string, repository = ''): Promise<RegistryCredentials | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw new ImageError(`cannot read auth file ${file}`, { path: file, reason: 'unreadable auth file' }, { cause: (error as NodeJS.ErrnoException).code });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ImageError(`auth file ${file} is not valid JSON`, { path: file, reason: 'invalid auth file' });
  }
  const auths = typeof json === 'object' && json !== null ? (json as { auths?: unknown }).auths : undefined;
  if (typeof auths !== 'object' || auths === null) return undefined;
  const host = normalizeKey(registry);
  const want = repository ? `${host}/${repository}` : host;
  let best: { length: number; key: string; value: unknown } | undefined;
  for (const [key, value] of Object.entries(auths)) {
    const k = normalizeKey(key);
    if (k === want || k === host || want.startsWith(`${k}/`)) {
      if (best === undefined || k.length > best.length) best = { length: k.length, key, value };
    }
  }
  return best === undefined ? undefined : decodeEntry(best.value, file, best.key);
}

/**
 * Finds credentials for a registry: in `authFile` when given, else in the conventional files
 * (`authFileCandidates`).
 */
export async function findCredentials(
  registry: string,
  repository: string,
  options: { authFile?: string | undefined; env?: Readonly<Record<string, string | undefined>> } = {},
): Promise<RegistryCredentials | undefined> {
  const files = options.authFile !== undefined ? [options.authFile] : authFileCandidates(options.env ?? process.env);
  for (const file of files) {
    const found = await credentialsFromAuthFile(file, registry, repository);
    if (found) return found;
  }
  return undefined;
}
