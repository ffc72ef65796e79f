/**
 * The OCI runtime CLI driver: runs `crun` (or `runc`, or anything with the same CLI) to create,
 * start, inspect, signal and delete containers from an OCI bundle.
 *
 * @module
 */
import { isProcessAlive } from '../../internal/process.js';
import { spawn as nodeSpawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { AbortedError, AlreadyExistsError, NotFoundError, OciRuntimeError, throwIfAborted, InvalidArgumentError } from '../../errors.js';
import { MONITOR_SCRIPT, prctlSyscallNumber } from './monitor-script.js';
import { nativeMountNamespaceSpec } from './hybrid-cgroup.js';
import {
  resolveOciRuntimeDriverOptions,
  type OciRuntimeDriverOptions,
  type ResolvedOciRuntimeDriverOptions,
  type SpawnFunction,
} from './options.js';
import { CONTAINER_ID_PATTERN } from '../../internal/schemas.js';

/** How a container's init process ended, as recorded by the monitor. */
export interface ContainerExitStatus {
  /** Host pid of the init process. */
  pid: number;
  /** Exit code when the process exited normally, else `null`. */
  exitCode: number | null;
  /** Signal name (e.g. `SIGKILL`) when the process was killed by a signal, else `null`. */
  signal: string | null;
  /** When the monitor reaped the process (RFC 3339, second precision). */
  finishedAt: string;
}

/** Status values of the OCI state (runtime.md), plus `paused` which runc and crun also report. */
export type OciContainerStatus = 'creating' | 'created' | 'running' | 'stopped' | 'paused';

/** The OCI state of a container (`<runtime> state <id>`), plus the recorded exit status when it has ended. */
export interface OciContainerState {
  ociVersion: string;
  id: string;
  status: OciContainerStatus;
  /** Host pid of the init process; 0 once stopped. */
  pid: number;
  /** Absolute bundle path. */
  bundle: string;
  /** When the runtime created the container (runtime-specific, not in the OCI state schema). */
  created?: string;
  annotations?: Record<string, string>;
  /** Set when the monitor recorded how the init process ended. */
  exit?: ContainerExitStatus;
}

/** Options of {@link OciRuntimeDriver.create}. */
export interface CreateOciContainerOptions {
  /** The bundle directory (with `config.json`). */
  bundle: string;
  /**
   * Where the container's stdout and stderr go, in the CRI log format. Omit (or pass `''`) to
   * discard them, which is what containerd does when the sandbox has no log directory.
   */
  logPath?: string;
  /** Cancels the operation; a half-created container is deleted. */
  signal?: AbortSignal;
}

/** Options of {@link OciRuntimeDriver.kill}. */
export interface KillOciContainerOptions {
  /**
   * The signal to send, by name (`SIGTERM`, `TERM`) or number.
   * @defaultValue `'SIGTERM'`
   */
  killSignal?: string | number;
  /**
   * Send it to every process of the container (`--all`), not just the init.
   * @defaultValue `false`
   */
  all?: boolean;
  signal?: AbortSignal;
}

/** Options of {@link OciRuntimeDriver.delete}. */
export interface DeleteOciContainerOptions {
  /**
   * Delete a running container too (the runtime kills it first: `delete --force`).
   * @defaultValue `false`
   */
  force?: boolean;
  signal?: AbortSignal;
}

/** Options of {@link OciRuntimeDriver.waitForExit}. */
export interface WaitForExitOptions {
  signal?: AbortSignal;
  /**
   * Give up after this many milliseconds.
   * @defaultValue `60000`
   */
  timeoutMs?: number;
}

/** A runtime invocation's result. */
interface RunResult {
  stdout: string;
  stderr: string;
}

const OUTPUT_CAP = 1024 * 1024;
const STDERR_IN_ERROR_CAP = 8 * 1024;

const stateSchema = z.looseObject({
  ociVersion: z.string(),
  id: z.string(),
  status: z.enum(['creating', 'created', 'running', 'stopped', 'paused']),
  pid: z.number().int().nonnegative().optional(),
  bundle: z.string(),
  created: z.string().optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

const exitFileSchema = z.object({
  pid: z.number().int(),
  waitStatus: z.number().int().nullable(),
  exitCode: z.number().int().nullable(),
  signal: z.number().int().nullable(),
  finishedAt: z.string(),
});

function signalName(n: number): string {
  const entry = Object.entries(osConstants.signals).find(([, v]) => v === n);
  return entry ? entry[0] : `SIG${n}`;
}

function signalNumber(value: string | number): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value > 0 && value < 65) return value;
  } else if (/^\d+$/.test(value)) {
    return signalNumber(Number(value));
  } else {
    const name = value.toUpperCase().startsWith('SIG') ? value.toUpperCase() : `SIG${value.toUpperCase()}`;
    const n = (osConstants.signals as Record<string, number | undefined>)[name];
    if (n !== undefined) return n;
  }
  throw new InvalidArgumentError(`unknown signal ${JSON.stringify(value)}`, { field: 'killSignal' });
}

function tail(text: string, cap: number): string {
  const trimmed = text.trim();
  return trimmed.length > cap ? `…${trimmed.slice(trimmed.length - cap)}` : trimmed;
}

function abortError(signal: AbortSignal | undefined, what: string): AbortedError {
  return new AbortedError(`${what} was aborted`, {}, { cause: signal?.reason });
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((res, rej) => {
    if (signal?.aborted) {
      rej(abortError(signal, 'wait'));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      rej(abortError(signal, 'wait'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * Drives an OCI runtime (crun or runc) through its command line.
 *
 * Design (what happens around the runtime's own `create`):
 * - **Logs.** `create` does not run the runtime directly: it starts a detached *monitor* process
 *   (a short Perl program, see `monitor-script.ts`) that runs `<runtime> create` with the
 *   container's stdout/stderr connected to pipes. The container inherits those pipes (the OCI
 *   "pass-through" I/O mode), and the monitor copies what comes out to the CRI `log_path` as CRI log
 *   lines (`2026-01-02T03:04:05.000000000Z stdout F hello`). It is a separate process, like
 *   containerd's shim or CRI-O's conmon, so logging survives the Node process that created the
 *   container. Anything the runtime prints during `create` never reaches the container log:
 *   the container cannot run before `start`, so the monitor hands that output back to the driver,
 *   and a failed `create` throws {@link OciRuntimeError} with the runtime's stderr.
 * - **Exit status.** The monitor makes itself a child subreaper before starting the runtime, so
 *   when `<runtime> create` exits the container's init is re-parented to the monitor, which reaps
 *   it and writes `{exitCode, signal, finishedAt}` to `<stateDir>/<id>/exit.json`.
 *   {@link OciRuntimeDriver.state} reports it, and {@link OciRuntimeDriver.waitForExit} waits for it.
 *   (Polling `<runtime> state` could only say "stopped", never the status; a pid file alone cannot
 *   be waited on by a process that is not the parent.)
 * - **Wrappers.** Every invocation is `[...commandPrefix, runtime, ...globalArgs, subcommand, ...]`,
 *   so a wrapper such as the `unshare -m` crun workaround of DEVELOPERS.md, or `--root` to keep
 *   test containers apart, applies to all subcommands.
 * @example
 * ```ts
 * const driver = new OciRuntimeDriver({ runtime: 'runc', globalArgs: ['--root', '/run/lxcri/runc'] });
 * await driver.create('c1', { bundle: '/run/bundles/c1', logPath: '/var/log/pods/c1.log' });
 * await driver.start('c1');
 * const exit = await driver.waitForExit('c1', { timeoutMs: 30_000 });
 * await driver.delete('c1');
 * ```
 */
export class OciRuntimeDriver {
  /** The options after defaults. */
  readonly options: ResolvedOciRuntimeDriverOptions;
  readonly #spawn: SpawnFunction;

  constructor(options: OciRuntimeDriverOptions = {}) {
    this.options = resolveOciRuntimeDriverOptions(options);
    this.#spawn = this.options.spawn ?? nodeSpawn;
  }

  /** The per-container state directory of the monitor. */
  containerStateDir(id: string): string {
    return join(resolve(this.options.stateDir), id);
  }

  /**
   * OCI `create`: sets the container up from `bundle`; the process waits until {@link start}.
   * @returns the host pid of the container's init process
   */
  async create(id: string, options: CreateOciContainerOptions): Promise<{ pid: number }> {
    validateId(id);
    const { signal } = options;
    throwIfAborted(signal, `create of container ${id}`);
    const bundle = resolve(options.bundle);
    let config: unknown;
    try {
      config = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`bundle ${bundle} has no config.json`, { path: bundle }, { cause: error });
      throw new OciRuntimeError(`cannot read ${join(bundle, 'config.json')}: ${(error as Error).message}`, { runtime: this.options.runtime, containerId: id }, { cause: error });
    }
    if ((config as { process?: { terminal?: unknown } } | null)?.process?.terminal === true) {
      // The runtime would hand the pty master over a --console-socket (SCM_RIGHTS), which neither
      // Node nor perl-base can receive.
      throw new InvalidArgumentError(`container ${id} asks for a terminal (tty), which this driver does not support`, { field: 'process.terminal' }, { grpcStatus: 'Unimplemented' });
    }
    const logPath = options.logPath ? resolve(options.logPath) : undefined;
    if (logPath !== undefined) {
      try {
        closeSync(openSync(logPath, 'a', 0o640));
      } catch (error) {
        throw new InvalidArgumentError(
          `cannot open the container log ${logPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
          { field: 'logPath', path: logPath },
          { cause: error },
        );
      }
    }
    await mkdir(resolve(this.options.stateDir), { recursive: true, mode: 0o700 });
    const dir = this.containerStateDir(id);
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new AlreadyExistsError(`container ${id} already has monitor state in ${dir}`, { id, path: dir }, { cause: error });
      }
      throw error;
    }
    try {
      return await this.#startMonitor(id, bundle, logPath, dir, signal);
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async #startMonitor(id: string, bundle: string, logPath: string | undefined, dir: string, signal: AbortSignal | undefined): Promise<{ pid: number }> {
    const pidFile = join(dir, 'init.pid');
    const exitFile = join(dir, 'exit.json');
    // the hybrid-cgroup workaround is done by the monitor's child itself (no unshare, sh, umount)
    const mountNs = nativeMountNamespaceSpec(this.options.commandPrefix);
    const prefix = mountNs === undefined ? this.options.commandPrefix : [];
    const command = [...prefix, this.options.runtime, ...this.options.globalArgs, 'create', '--bundle', bundle, '--pid-file', pidFile, id];
    const prctl = prctlSyscallNumber();
    const args = ['-e', MONITOR_SCRIPT, '--', prctl === undefined ? '-' : String(prctl), mountNs ?? '-', logPath ?? '-', pidFile, exitFile, ...command];
    const monitorLog = openSync(join(dir, 'monitor.log'), 'a', 0o600);
    let child: ChildProcess;
    try {
      child = this.#spawn(this.options.perl, args, { stdio: ['ignore', 'ignore', monitorLog, 'pipe'], detached: true });
    } finally {
      closeSync(monitorLog);
    }
    this.options.logger.debug({ id, bundle, command }, 'starting OCI runtime create under the monitor');
    const statusStream = child.stdio[3] as Readable | null | undefined;
    if (!statusStream) throw new OciRuntimeError('monitor has no status pipe', { runtime: this.options.runtime, containerId: id });

    const result = await new Promise<{ kind: 'ok'; pid: number } | { kind: 'fail'; status: number; output: string } | { kind: 'error'; error: unknown } | { kind: 'aborted' }>(
      (res) => {
        let text = '';
        let settled = false;
        const done = (value: Parameters<typeof res>[0]): void => {
          if (settled) return;
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          clearTimeout(timer);
          res(value);
        };
        const onAbort = (): void => done({ kind: 'aborted' });
        const timer = setTimeout(() => done({ kind: 'error', error: new OciRuntimeError(`create of container ${id} timed out after ${this.options.timeoutMs} ms`, { runtime: this.options.runtime, containerId: id }) }), this.options.timeoutMs);
        signal?.addEventListener('abort', onAbort, { once: true });
        child.once('error', (error) => done({ kind: 'error', error }));
        statusStream.setEncoding('utf8');
        statusStream.on('data', (chunk: string) => {
          text += chunk;
          const m = /^ok (\d+)\n/.exec(text);
          if (m) done({ kind: 'ok', pid: Number(m[1]) });
        });
        statusStream.on('close', () => {
          const fail = /^fail (\d+)\n([\s\S]*)$/.exec(text);
          if (fail) done({ kind: 'fail', status: Number(fail[1]), output: fail[2] ?? '' });
          else done({ kind: 'error', error: new OciRuntimeError(`the container monitor ended without a status${text ? `: ${tail(text, 500)}` : ''}`, { runtime: this.options.runtime, containerId: id }) });
        });
      },
    );
    statusStream.destroy();
    child.unref();

    if (result.kind === 'ok') {
      if (child.pid !== undefined) await writeFile(join(dir, 'monitor.pid'), `${child.pid}\n`, { mode: 0o600 });
      return { pid: result.pid };
    }
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (result.kind === 'aborted' || result.kind === 'error') {
      await this.#deleteIfOurs(id, bundle);
      if (result.kind === 'aborted') throw abortError(signal, `create of container ${id}`);
      const error = result.error;
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new OciRuntimeError(`cannot run the container monitor: ${this.options.perl} not found`, { runtime: this.options.runtime, containerId: id }, { cause: error });
      }
      throw error instanceof OciRuntimeError ? error : new OciRuntimeError(`create of container ${id} failed`, { runtime: this.options.runtime, containerId: id }, { cause: error });
    }
    const exitCode = result.status >> 8;
    const stderr = tail(result.output, STDERR_IN_ERROR_CAP);
    throw new OciRuntimeError(`${this.options.runtime} create ${id} failed (exit ${exitCode})${stderr ? `: ${lastLine(stderr)}` : ''}`, {
      runtime: this.options.runtime,
      command: 'create',
      exitCode,
      stderr,
      containerId: id,
    });
  }

  /** Deletes a container left by an aborted create, only when it is the one made from `bundle`. */
  async #deleteIfOurs(id: string, bundle: string): Promise<void> {
    try {
      const state = await this.#runtimeState(id, undefined);
      if (resolve(state.bundle) === bundle) await this.#run(['delete', '--force', id], undefined, id);
    } catch {
      // nothing to clean up, or the runtime cannot tell: leave it
    }
  }

  /** OCI `start`: runs the user process of a created container. */
  async start(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    validateId(id);
    await this.#run(['start', id], options.signal, id);
  }

  /** OCI `state`, plus the exit status recorded by the monitor once the container has stopped. */
  async state(id: string, options: { signal?: AbortSignal } = {}): Promise<OciContainerState> {
    validateId(id);
    const state = await this.#runtimeState(id, options.signal);
    const exit = await this.exitStatus(id);
    return exit ? { ...state, exit } : state;
  }

  async #runtimeState(id: string, signal: AbortSignal | undefined): Promise<OciContainerState> {
    const { stdout } = await this.#run(['state', id], signal, id);
    let json: unknown;
    try {
      json = JSON.parse(stdout);
    } catch (error) {
      throw new OciRuntimeError(`${this.options.runtime} state ${id} printed invalid JSON`, { runtime: this.options.runtime, command: 'state', containerId: id }, { cause: error });
    }
    const parsed = stateSchema.safeParse(json);
    if (!parsed.success) {
      throw new OciRuntimeError(`${this.options.runtime} state ${id} printed an unexpected state: ${z.prettifyError(parsed.error)}`, {
        runtime: this.options.runtime,
        command: 'state',
        containerId: id,
      });
    }
    const s = parsed.data;
    return {
      ociVersion: s.ociVersion,
      id: s.id,
      status: s.status,
      pid: s.pid ?? 0,
      bundle: s.bundle,
      ...(s.created === undefined ? {} : { created: s.created }),
      ...(s.annotations === undefined ? {} : { annotations: s.annotations }),
    };
  }

  /** The exit status the monitor recorded, or `undefined` while the container has not ended. */
  async exitStatus(id: string): Promise<ContainerExitStatus | undefined> {
    validateId(id);
    let text: string;
    try {
      text = await readFile(join(this.containerStateDir(id), 'exit.json'), 'utf8');
    } catch {
      return undefined;
    }
    const parsed = exitFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw new OciRuntimeError(`corrupt exit status file of container ${id}`, { containerId: id });
    const e = parsed.data;
    return { pid: e.pid, exitCode: e.exitCode, signal: e.signal === null ? null : signalName(e.signal), finishedAt: e.finishedAt };
  }

  /** Waits until the monitor has recorded the container's exit status. */
  async waitForExit(id: string, options: WaitForExitOptions = {}): Promise<ContainerExitStatus> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      const exit = await this.exitStatus(id);
      if (exit) return exit;
      if (Date.now() > deadline) throw new OciRuntimeError(`container ${id} did not exit within ${options.timeoutMs ?? 60_000} ms`, { containerId: id });
      await sleep(50, options.signal);
    }
  }

  /** OCI `kill`: sends a signal to the container's init (or, with `all`, every process). */
  async kill(id: string, options: KillOciContainerOptions = {}): Promise<void> {
    validateId(id);
    const n = signalNumber(options.killSignal ?? 'SIGTERM');
    await this.#run(['kill', ...(options.all ? ['--all'] : []), id, String(n)], options.signal, id);
  }

  /**
   * OCI `delete`: removes the container from the runtime, then waits (briefly) for the monitor to
   * record the exit and removes the monitor's state directory.
   */
  async delete(id: string, options: DeleteOciContainerOptions = {}): Promise<void> {
    validateId(id);
    const dir = this.containerStateDir(id);
    try {
      await this.#run(['delete', ...(options.force ? ['--force'] : []), id], options.signal, id);
    } catch (error) {
      // Gone from the runtime (e.g. after a host reboot): drop the stale monitor state too.
      const known = await this.#runtimeState(id, options.signal).then(
        () => true,
        () => false,
      );
      if (known || options.signal?.aborted) throw error;
      await rm(dir, { recursive: true, force: true });
      throw new NotFoundError(`container ${id} does not exist in ${this.options.runtime}`, { id }, { cause: error });
    }
    const monitorPid = Number((await readFile(join(dir, 'monitor.pid'), 'utf8').catch(() => '')).trim());
    if (Number.isInteger(monitorPid) && monitorPid > 0) {
      const until = Date.now() + 5_000;
      while (isProcessAlive(monitorPid) && Date.now() < until) await sleep(25, options.signal);
      if (isProcessAlive(monitorPid)) this.options.logger.warn({ id, monitorPid }, 'container monitor still running after delete');
    }
    await rm(dir, { recursive: true, force: true });
  }

  /** Runs one runtime subcommand and collects its output; a non-zero exit throws {@link OciRuntimeError}. */
  async #run(args: readonly string[], signal: AbortSignal | undefined, id?: string): Promise<RunResult> {
    const subcommand = args[0] ?? '';
    throwIfAborted(signal, `${this.options.runtime} ${subcommand}`);
    const [file, ...rest] = [...this.options.commandPrefix, this.options.runtime, ...this.options.globalArgs, ...args];
    if (file === undefined) throw new OciRuntimeError('empty runtime command');
    this.options.logger.debug({ runtime: this.options.runtime, args }, 'running the OCI runtime');
    return await new Promise<RunResult>((res, rej) => {
      const child = this.#spawn(file, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      let finished = false;
      const finish = (fn: () => void): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = (): void => {
        child.kill('SIGKILL');
        finish(() => rej(abortError(signal, `${this.options.runtime} ${subcommand}`)));
      };
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        finish(() => rej(new OciRuntimeError(`${this.options.runtime} ${subcommand} timed out after ${this.options.timeoutMs} ms`, { runtime: this.options.runtime, command: subcommand, stderr: tail(stderr, STDERR_IN_ERROR_CAP) })));
      }, this.options.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout?.setEncoding('utf8').on('data', (c: string) => {
        if (stdout.length < OUTPUT_CAP) stdout += c;
      });
      child.stderr?.setEncoding('utf8').on('data', (c: string) => {
        if (stderr.length < OUTPUT_CAP) stderr += c;
      });
      child.once('error', (error) =>
        finish(() =>
          rej(
            new OciRuntimeError(`cannot run ${file}: ${(error as NodeJS.ErrnoException).code ?? error.message}`, { runtime: this.options.runtime, command: subcommand }, { cause: error }),
          ),
        ),
      );
      child.once('close', (code, sig) =>
        finish(() => {
          if (code === 0) {
            res({ stdout, stderr });
            return;
          }
          const err = tail(stderr, STDERR_IN_ERROR_CAP);
          rej(
            new OciRuntimeError(`${this.options.runtime} ${subcommand} failed (${code === null ? `signal ${String(sig)}` : `exit ${code}`})${err ? `: ${lastLine(err)}` : ''}`, {
              runtime: this.options.runtime,
              command: subcommand,
              exitCode: code,
              signal: sig,
              stderr: err,
              ...(id === undefined ? {} : { containerId: id }),
            }),
          );
        }),
      );
    });
  }
}

function lastLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

function validateId(id: string): void {
  if (typeof id !== 'string' || !CONTAINER_ID_PATTERN.test(id) || isAbsolute(id)) {
    throw new InvalidArgumentError(`invalid container id ${JSON.stringify(id)}: use 1-128 of [A-Za-z0-9_.-], starting with a letter or digit`, { field: 'id' });
  }
}
