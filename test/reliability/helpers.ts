/**
 * Shared by the reliability suites: the simulator and Lxcri wiring for the LXC path, a capturing
 * logger, the secrets the simulator handed out (to prove none leaks), and the leak checks
 * (CTs, locks, partial templates, records).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Logger } from '../../src/logger.js';
import type { LxcriOptions } from '../../src/lxcri/options.js';
import type { PveSimulator } from '../../src/testing/index.js';

/** `LXCRI_SOAK=1` (npm run test:soak) runs the heavy variants. */
export const SOAK = process.env['LXCRI_SOAK'] === '1';

/** One captured log line. */
export interface CapturedLog {
  level: string;
  fields: Record<string, unknown>;
  message?: string | undefined;
}

/** A logger that keeps every line (as JSON-able values) in `lines`. */
export function capturingLogger(lines: CapturedLog[]): Logger {
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, message?: string): void => {
      lines.push({ level, fields, message });
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * Records every ticket and CSRF token the simulator issues, and returns a function listing them
 * together with the token secret and the passwords of its users: the strings no log or error of
 * lxcri may contain.
 */
export function watchSecrets(sim: PveSimulator): () => string[] {
  const issued: string[] = [];
  const state = sim.state;
  const createTicket = state.createTicket.bind(state);
  const createCsrfToken = state.createCsrfToken.bind(state);
  state.createTicket = (data: string, aad?: string): string => {
    const ticket = createTicket(data, aad);
    issued.push(ticket);
    return ticket;
  };
  state.createCsrfToken = (userid: string): string => {
    const token = createCsrfToken(userid);
    issued.push(token);
    return token;
  };
  return () => {
    const fixed: string[] = [];
    for (const user of state.users.values()) {
      fixed.push(user.password);
      for (const token of user.tokens) fixed.push(token.secret);
    }
    // the ticket's signature half and the CSRF token's digest half are the secret parts
    const parts = issued.flatMap((s) => [s, s.split('::')[1] ?? '', s.split(':').pop() ?? '']);
    return [...new Set([...fixed, ...parts])].filter((s) => s.length >= 8);
  };
}

/** Every secret of `secrets` found in `text` (by value; reported by length, never printed). */
export function leakedSecrets(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((s) => text.includes(s)).map((s) => `a secret of ${s.length} characters`);
}

/** JSON of an error with its own enumerable fields, its message, stack and cause chain. */
export function errorText(error: unknown): string {
  const seen = new Set<unknown>();
  const parts: string[] = [];
  let current: unknown = error;
  while (current !== undefined && current !== null && !seen.has(current)) {
    seen.add(current);
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? '', safeJson(current));
      current = (current as Error & { cause?: unknown }).cause;
    } else {
      parts.push(safeJson(current));
      break;
    }
  }
  return parts.join('\n');
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return String(value);
  }
}

/** Lxcri options for the LXC path on `sim` (token auth, or password auth for tickets and CSRF tokens). */
export function lxcOptions(
  sim: PveSimulator,
  stateDir: string,
  layout: string,
  extra: { auth?: 'token' | 'password'; logger?: Logger; timeoutMs?: number; retries?: number } = {},
): LxcriOptions {
  const { username, password } = sim.state.credentials;
  const simulator = sim.clientOptions();
  const auth = extra.auth === 'password' ? { type: 'password' as const, username, password } : simulator.auth;
  return {
    stateDir,
    images: layout,
    policy: { defaultRuntime: 'proxmox-lxc' },
    hostChecks: false,
    ...(extra.logger ? { logger: extra.logger } : {}),
    proxmox: {
      client: {
        ...simulator,
        auth,
        timeoutMs: extra.timeoutMs ?? 10_000,
        retry: { retries: extra.retries ?? 2, minDelayMs: 2, maxDelayMs: 10 },
        tasks: { pollMinMs: 2, pollMaxMs: 10, timeoutMs: 30_000, logPageSize: 50 },
      },
      lxc: { workDir: join(stateDir, 'templates'), pollMs: 2, timeouts: { createMs: 30_000, uploadMs: 30_000, taskMs: 30_000 } },
    },
  };
}

/** True when `path` is a whole gzip stream of a tar archive (ends with its two zero blocks). */
async function isWholeTarGz(path: string): Promise<boolean> {
  try {
    const tar = gunzipSync(await readFile(path));
    return tar.length >= 1024 && tar.length % 512 === 0 && tar.subarray(tar.length - 1024).every((b) => b === 0);
  } catch {
    return false;
  }
}

/** The VMIDs of CTs lxcri made (tag `lxcri`). */
export function ourCts(sim: PveSimulator): number[] {
  return [...sim.state.cts.values()].filter((ct) => (ct.config['tags'] ?? '').includes('lxcri')).map((ct) => ct.vmid);
}

/** sha256 of each `lxcri-*` template file on the template storage of `pve1`, by name. */
export async function templateFiles(sim: PveSimulator): Promise<Map<string, string>> {
  const dir = join(sim.state.storagePath('pve1', 'local'), 'template', 'cache');
  const out = new Map<string, string>();
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!name.startsWith('lxcri-')) continue;
    out.set(name, createHash('sha256').update(await readFile(join(dir, name))).digest('hex'));
  }
  return out;
}

/**
 * What is left on the simulator that should not be: CTs (all, or those not in `keep`), config
 * locks (held, or a `lock` in a CT config), upload temp files, and template files that are not
 * byte-identical to the complete ones in `complete` (a partial template).
 */
export async function simulatorLeaks(sim: PveSimulator, complete: ReadonlyMap<string, string>, keep: readonly number[] = []): Promise<string[]> {
  const leaks: string[] = [];
  for (const ct of sim.state.cts.values()) {
    if (!keep.includes(ct.vmid)) leaks.push(`CT ${ct.vmid}`);
    if (ct.config['lock']) leaks.push(`CT ${ct.vmid} has lock ${ct.config['lock']}`);
  }
  for (let vmid = 100; vmid < 200; vmid++) if (sim.state.isConfigLocked(vmid)) leaks.push(`config lock of ${vmid} held`);
  for (const name of await readdir(join(sim.state.dataDir, 'tmp')).catch(() => [] as string[])) leaks.push(`upload temp file ${name}`);
  const dir = join(sim.state.storagePath('pve1', 'local'), 'template', 'cache');
  for (const [name, hash] of await templateFiles(sim)) {
    if (complete.get(name) === hash) continue;
    // a rootfs .tar.gz is rebuilt per create (not byte-identical): complete means it inflates whole
    if (!(complete.has(name) && name.endsWith('.tar.gz') && (await isWholeTarGz(join(dir, name))))) leaks.push(`template ${name} is not a complete template`);
  }
  return leaks;
}
