/**
 * Runtime probes: is the OCI runtime binary there and answering, is a Proxmox VE API reachable?
 *
 * The probes are the only I/O of runtime selection. `createRuntimeProbes` runs them (async,
 * with an `AbortSignal` and a deadline) and returns a plain, JSON-serialisable
 * {@link RuntimeProbeResults} object that the synchronous, pure `selectRuntime()` consumes.
 *
 * @module
 */
import { parseOptions } from '../options.js';
import { spawn as nodeSpawn } from 'node:child_process';
import { z } from 'zod';
import { isLxcriError, throwIfAborted } from '../errors.js';
import { redactString } from '../redact.js';

/** The process spawner the OCI runtime probe uses: `child_process.spawn` or a compatible function. */
export type RuntimeProbeSpawn = typeof nodeSpawn;

/**
 * The minimal view of a Proxmox VE API client the probe needs: a function that calls
 * `GET /version` and resolves with its answer (e.g. `(o) => client.version.get(o)`).
 */
export interface ProxmoxVersionSource {
  /** Calls `GET /version`; should honour `signal`. */
  version(options: { signal: AbortSignal }): Promise<unknown>;
  /**
   * The identity the client authenticates as: a user (`root@pam`) or an API token
   * (`root@pam!ci`). Only the literal user `root@pam` may configure device passthrough and bind
   * mounts (a root@pam token may not).
   */
  authId?: string | undefined;
}

/** What a probe found out about one runtime. */
export interface RuntimeProbeResult {
  /** True when the runtime answered. */
  available: boolean;
  /** What it answered, or why it is unavailable (never holds a secret). */
  detail: string;
  /** The version it reported, when it reported one. */
  version?: string;
}

/** What the OCI runtime probe found. */
export interface OciRuntimeProbeResult extends RuntimeProbeResult {
  /** The binary that was run. */
  path: string;
  /** The program name it reported (`crun`, `runc`). */
  name?: string;
}

/** What the Proxmox VE probe found. */
export interface ProxmoxProbeResult extends RuntimeProbeResult {
  /** The configured identity, when known. */
  authId?: string;
  /** True when the identity is the literal user `root@pam` (not a token of it). */
  rootPam: boolean;
}

/** The plain result object `selectRuntime()` consumes. A runtime left out is "not checked". */
export interface RuntimeProbeResults {
  /** The OCI runtime on the node (crun or runc). */
  crun?: OciRuntimeProbeResult;
  /** Proxmox VE. */
  'proxmox-lxc'?: ProxmoxProbeResult;
}

const isFunction = (value: unknown): boolean => typeof value === 'function';

/** zod schema of {@link RuntimeProbesOptions} (strict: unknown keys are rejected). */
export const runtimeProbesOptionsSchema = z.strictObject({
  ociRuntimePath: z.string().min(1, 'must name the OCI runtime binary').default('crun'),
  spawn: z.custom<RuntimeProbeSpawn>(isFunction, { message: 'expected a spawn function' }).optional(),
  proxmox: z
    .custom<ProxmoxVersionSource>(
      (value) => typeof value === 'object' && value !== null && isFunction((value as { version?: unknown }).version),
      { message: 'expected an object with a version({ signal }) method' },
    )
    .optional(),
  timeoutMs: z.number().int().positive().max(600_000).default(5_000),
});

/** Options of `createRuntimeProbes`. */
export interface RuntimeProbesOptions {
  /**
   * The OCI runtime binary to run with `--version`: `crun`, `runc`, or a path.
   * @defaultValue `'crun'`
   */
  ociRuntimePath?: string;
  /**
   * The process spawner.
   * @defaultValue `child_process.spawn`
   */
  spawn?: RuntimeProbeSpawn;
  /**
   * The Proxmox VE API to ask for `/version`. Without it `proxmox-lxc` is reported unavailable
   * ("no Proxmox client configured").
   * @defaultValue `undefined`
   */
  proxmox?: ProxmoxVersionSource;
  /**
   * The deadline of each probe, in milliseconds. A probe that takes longer reports the runtime
   * unavailable.
   * @defaultValue `5000`
   */
  timeoutMs?: number;
}

/** The options with defaults filled in. */
export type ResolvedRuntimeProbesOptions = z.output<typeof runtimeProbesOptionsSchema>;

const _inputAccepted: RuntimeProbesOptions extends z.input<typeof runtimeProbesOptionsSchema> ? true : false = true;
void _inputAccepted;

/** Options of one probe run. */
export interface RunProbesOptions {
  /** Cancels the probes: they reject with `AbortedError`. */
  signal?: AbortSignal;
}

/** Evaluates the probes. */
export interface RuntimeProbes {
  /** The resolved options. */
  readonly options: Readonly<ResolvedRuntimeProbesOptions>;
  /** Runs every probe in parallel. */
  run(options?: RunProbesOptions): Promise<RuntimeProbeResults>;
  /** Runs `<ociRuntimePath> --version`. */
  probeOciRuntime(options?: RunProbesOptions): Promise<OciRuntimeProbeResult>;
  /** Calls the Proxmox `/version` source. */
  probeProxmox(options?: RunProbesOptions): Promise<ProxmoxProbeResult>;
}

const MAX_OUTPUT = 64 * 1024;

function firstLine(text: string): string {
  return (text.split('\n').find((line) => line.trim() !== '') ?? '').trim().slice(0, 300);
}

/** A deadline signal joined with the caller's, and a way to tell which fired. */
function deadline(timeoutMs: number, signal: AbortSignal | undefined): { signal: AbortSignal; timedOut: () => boolean; done: () => void } {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`deadline of ${timeoutMs} ms passed`));
  }, timeoutMs);
  const onAbort = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  return {
    signal: controller.signal,
    timedOut: () => timedOut,
    done: () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

async function probeOciRuntime(options: ResolvedRuntimeProbesOptions, signal: AbortSignal | undefined): Promise<OciRuntimeProbeResult> {
  const path = options.ociRuntimePath;
  throwIfAborted(signal, `probing ${path}`);
  const spawn = options.spawn ?? nodeSpawn;
  const limit = deadline(options.timeoutMs, signal);
  try {
    const outcome = await new Promise<{ error?: Error; code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
      let stdout = '';
      let stderr = '';
      let settled = false;
      const finish = (value: { error?: Error; code: number | null; signal: NodeJS.Signals | null }): void => {
        if (settled) return;
        settled = true;
        resolve({ ...value, stdout, stderr });
      };
      let child;
      try {
        child = spawn(path, ['--version'], { stdio: ['ignore', 'pipe', 'pipe'], signal: limit.signal, windowsHide: true });
      } catch (error) {
        finish({ error: error instanceof Error ? error : new Error(String(error)), code: null, signal: null });
        return;
      }
      child.stdout?.setEncoding('utf8');
      child.stderr?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        if (stdout.length < MAX_OUTPUT) stdout += chunk;
      });
      child.stderr?.on('data', (chunk: string) => {
        if (stderr.length < MAX_OUTPUT) stderr += chunk;
      });
      child.on('error', (error) => finish({ error, code: null, signal: null }));
      child.on('close', (code, sig) => finish({ code, signal: sig }));
    });
    throwIfAborted(signal, `probing ${path}`);
    if (limit.timedOut()) {
      return { available: false, path, detail: `${path} --version did not answer within ${options.timeoutMs} ms` };
    }
    if (outcome.error) {
      const code = (outcome.error as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'permission denied' : redactString(outcome.error.message);
      return { available: false, path, detail: `cannot run ${path} --version: ${why}${code && code !== 'ENOENT' && code !== 'EACCES' ? ` (${code})` : ''}` };
    }
    if (outcome.code !== 0) {
      const tail = firstLine(outcome.stderr) || firstLine(outcome.stdout);
      const how = outcome.code === null ? `was killed by ${outcome.signal ?? 'a signal'}` : `exited with code ${outcome.code}`;
      return { available: false, path, detail: `${path} --version ${how}${tail ? `: ${redactString(tail)}` : ''}` };
    }
    const line = firstLine(outcome.stdout);
    const match = /^(\S+)\s+version\s+(\S+)/i.exec(line);
    if (match) {
      return { available: true, path, name: match[1] as string, version: match[2] as string, detail: `${path} --version answered ${JSON.stringify(line)}` };
    }
    return { available: true, path, detail: `${path} --version answered ${line ? JSON.stringify(line) : 'with no output'}` };
  } finally {
    limit.done();
  }
}

function describeVersion(answer: unknown): { version?: string; text: string } {
  if (typeof answer === 'string' && answer !== '') return { version: answer, text: `version ${answer}` };
  if (typeof answer === 'object' && answer !== null) {
    const record = answer as Record<string, unknown>;
    const data = typeof record['data'] === 'object' && record['data'] !== null ? (record['data'] as Record<string, unknown>) : record;
    const version = data['version'];
    if (typeof version === 'string' && version !== '') {
      const release = typeof data['release'] === 'string' ? ` (release ${data['release']})` : '';
      return { version, text: `Proxmox VE ${version}${release}` };
    }
  }
  return { text: 'an answer without a version' };
}

async function probeProxmox(options: ResolvedRuntimeProbesOptions, signal: AbortSignal | undefined): Promise<ProxmoxProbeResult> {
  throwIfAborted(signal, 'probing Proxmox VE');
  const source = options.proxmox;
  if (!source) return { available: false, rootPam: false, detail: 'no Proxmox client configured' };
  const authId = source.authId;
  const identity = authId === undefined ? {} : { authId };
  const rootPam = authId === 'root@pam';
  const limit = deadline(options.timeoutMs, signal);
  try {
    const answer = await new Promise<unknown>((resolve, reject) => {
      limit.signal.addEventListener('abort', () => reject(limit.signal.reason), { once: true });
      source.version({ signal: limit.signal }).then(resolve, reject);
    });
    const { version, text } = describeVersion(answer);
    return { available: true, rootPam, ...identity, ...(version === undefined ? {} : { version }), detail: `GET /version answered: ${text}` };
  } catch (error) {
    throwIfAborted(signal, 'probing Proxmox VE');
    if (limit.timedOut()) return { available: false, rootPam, ...identity, detail: `GET /version did not answer within ${options.timeoutMs} ms` };
    const why = isLxcriError(error) ? `${error.code}: ${error.message}` : redactString(error instanceof Error ? error.message : String(error));
    return { available: false, rootPam, ...identity, detail: `GET /version failed: ${why}` };
  } finally {
    limit.done();
  }
}

/**
 * Builds the runtime probes.
 *
 * - OCI runtime: runs `<ociRuntimePath> --version`; available when it exits 0 (the version is
 *   read from `<name> version <x>` on the first line). A missing binary, a non-zero exit or no
 *   answer before the deadline makes it unavailable, with the reason in `detail`.
 * - Proxmox VE: calls `proxmox.version({ signal })`; available when it resolves. No source, an
 *   error or the deadline makes it unavailable. `rootPam` is true only for the identity `root@pam`.
 *
 * When the caller's signal fires, `run()` rejects with `AbortedError`.
 *
 * @throws InvalidOptionsError when the options are invalid
 */
export function createRuntimeProbes(options: RuntimeProbesOptions = {}): RuntimeProbes {
  const resolved = Object.freeze(parseOptions(runtimeProbesOptionsSchema, options, 'runtime probe options'));
  return {
    options: resolved,
    probeOciRuntime: (run = {}) => probeOciRuntime(resolved, run.signal),
    probeProxmox: (run = {}) => probeProxmox(resolved, run.signal),
    async run(run = {}) {
      const [crun, proxmox] = await Promise.all([probeOciRuntime(resolved, run.signal), probeProxmox(resolved, run.signal)]);
      return { crun, 'proxmox-lxc': proxmox };
    },
  };
}
