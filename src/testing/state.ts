/**
 * The one state model behind both front ends of the simulator (HTTPS server and msw handlers):
 * nodes, storages (with directories on disk), containers with config, lock and status, worker
 * tasks with logs, users, tokens and TFA secrets, tickets, the request log and fault rules.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../logger.js';
import {
  createDefaultSimulatorUsers,
  resolvePveSimulatorOptions,
  simulatorUserSchema,
  type PveSimulatorOptions,
  type ResolvedPveSimulatorOptions,
  type SimulatorClock,
  type SimulatorStorage,
  type SimulatorUser,
} from './options.js';
import type { PveVersion } from './param-rules.js';

/** What a fault rule matches: the API path is the part after `/api2/json`, without the query. */
export interface PveFaultMatch {
  /** HTTP method; any when unset. */
  method?: string;
  /** The exact API path (`/nodes/pve1/lxc`) or a RegExp tested against it; any when unset. */
  path?: string | RegExp;
}

/** Common fields of every fault rule. */
export interface PveFaultBase {
  /** How many times the rule fires before it retires itself. @defaultValue Infinity */
  times?: number;
}

/**
 * An injected failure:
 * - `http-error`: answer matching requests with `status` and `message` (and `errors`) instead of handling them;
 * - `latency`: wait `delayMs` before handling;
 * - `drop-connection`: close the connection without handling the request;
 * - `lose-response`: handle the request (the action happens) and close the connection instead of answering;
 * - `task-failure`: the next worker tasks of `taskType` (and `vmid`) end with `exitStatus`, undoing their action
 *   (an exit status `WARNINGS: <n>` is a success with warnings: the action completes);
 * - `lock-timeout`: every wait for the config lock of `vmid` times out;
 * - `node-offline`: requests proxied to `node` fail with 595 (connection refused) or 596 (broken pipe), and
 *   `GET /nodes` shows it offline.
 */
export type PveFaultRule = PveFaultBase &
  (
    | { kind: 'http-error'; match?: PveFaultMatch; status: number; message: string; errors?: Record<string, string> }
    | { kind: 'latency'; match?: PveFaultMatch; delayMs: number }
    | { kind: 'drop-connection'; match?: PveFaultMatch }
    | { kind: 'lose-response'; match?: PveFaultMatch }
    | { kind: 'task-failure'; taskType?: string; vmid?: number; exitStatus: string }
    | { kind: 'lock-timeout'; vmid: number }
    | { kind: 'node-offline'; node: string; status?: 595 | 596 }
  );

/** An active fault rule with its id and how often it fired. */
export type ActivePveFault = PveFaultRule & { readonly id: number; fired: number };

/** Who made a request. */
export interface PveRequestAuth {
  /** How the request authenticated. */
  kind: 'none' | 'ticket' | 'token';
  /** `user@realm`. */
  userid?: string;
  /** The full token id `user@realm!name` for token requests. */
  tokenId?: string;
}

/** One entry of the request log (secrets redacted). */
export interface PveRequestLogEntry {
  /** Sequence number, from 1. */
  seq: number;
  /** Clock time the request arrived (ms). */
  time: number;
  method: string;
  /** The API path after `/api2/json`, without the query. */
  path: string;
  /** Query, body and path parameters, secrets redacted. */
  params: Record<string, unknown>;
  auth: PveRequestAuth;
  status: number;
  statusText: string;
  /** The UPID when the request started a worker task. */
  upid?: string;
  /** The fault that shaped the answer, if any. */
  fault?: PveFaultRule['kind'];
  /** True when no answer was sent (dropped connection or lost response). */
  dropped?: boolean;
}

/** A simulated container. */
export interface SimulatedCt {
  vmid: number;
  node: string;
  /** The CT config as PVE stores it (`key: value` lines), values as strings. */
  config: Record<string, string>;
  status: 'running' | 'stopped';
  /** Clock time (ms) the CT was started. */
  startedAt?: number;
  /** Volumes this CT owns (volids). */
  volumes: string[];
}

/** A worker task. */
export interface SimulatedTask {
  upid: string;
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  /** `user@realm` (the token name is split off into `tokenid`). */
  user: string;
  tokenid?: string;
  status: 'running' | 'stopped';
  exitstatus?: string;
  /** Clock time (s) the task stopped. */
  endtime?: number;
  /** The task log lines. */
  log: string[];
  /** Settles when the task stops. */
  done: Promise<void>;
}

/** What a task's work function gets. */
export interface TaskContext {
  /** Appends a line to the task log. */
  log(line: string): void;
  /** Waits the task's configured duration; throws the injected failure when a `task-failure` fault matched. */
  wait(): Promise<void>;
  /** Logs `WARN: <line>`; a task that warned and otherwise succeeds ends `WARNINGS: <n>` (PVE's `warn` in a worker). */
  warn(line: string): void;
}

/** Thrown inside a task to end it with exactly this exit status. */
export class TaskExitError extends Error {
  override name = 'TaskExitError';
}

/** A simulated node. */
export interface SimulatedNode {
  name: string;
}

/** The credentials of the default users, for tests and the CLI. */
export interface SimulatorCredentials {
  /** `root@pam` (or the first configured user). */
  username: string;
  password: string;
  /** `user@realm!name` of the first token, when there is one. */
  tokenId?: string;
  tokenSecret?: string;
  /** The ready `Authorization` header value for the token. */
  authorization?: string;
}

const hex8 = (n: number): string => n.toString(16).toUpperCase().padStart(8, '0');

/** A per-vmid config lock: flock semantics with a wait timeout. */
class ConfigLock {
  held = false;
  private readonly waiters: { grant: () => void; timer: NodeJS.Timeout }[] = [];

  acquire(timeoutMs: number, signal: AbortSignal): Promise<(() => void) | undefined> {
    if (!this.held) {
      this.held = true;
      return Promise.resolve(this.releaser());
    }
    if (signal.aborted) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const giveUp = (): void => {
        clearTimeout(waiter.timer);
        signal.removeEventListener('abort', giveUp);
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        resolve(undefined);
      };
      const waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          signal.removeEventListener('abort', giveUp);
          resolve(this.releaser());
        },
        timer: setTimeout(giveUp, timeoutMs),
      };
      signal.addEventListener('abort', giveUp, { once: true });
      this.waiters.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next.grant();
      else this.held = false;
    };
  }
}

/**
 * The simulator's state. Create it with {@link PveSimulatorState.create}; both `startPveSimulator`
 * and `pveSimulatorHandlers` serve from one instance, and tests inspect and steer it directly
 * (request log, faults, containers, tasks, storage directories).
 */
export class PveSimulatorState {
  /** Images `oci-registry-pull` can fetch: reference → oci-archive path (see the `ociImages` option). */
  readonly ociImages: Map<string, string>;
  /** The resolved options. */
  readonly options: ResolvedPveSimulatorOptions;
  /** The PVE release imitated. */
  readonly version: PveVersion;
  /** Whether 401 texts are the pre-9.1.5 ones. */
  readonly authErrorStyle: 'legacy' | 'unified';
  readonly clock: SimulatorClock;
  readonly logger: Logger;
  /** Root of the on-disk storage directories. */
  readonly dataDir: string;
  readonly nodes: readonly SimulatedNode[];
  readonly storages: readonly SimulatorStorage[];
  readonly users: ReadonlyMap<string, SimulatorUser>;
  /** Containers by VMID. */
  readonly cts = new Map<number, SimulatedCt>();
  /** Tasks by UPID, in start order. */
  readonly tasks = new Map<string, SimulatedTask>();
  /** Every request seen, oldest first. */
  readonly requestLog: PveRequestLogEntry[] = [];
  /** SHA-256 fingerprint of the served certificate (set by `startPveSimulator`). */
  fingerprint256: string | undefined;

  private readonly faults: ActivePveFault[] = [];
  private nextFaultId = 1;
  private readonly locks = new Map<number, ConfigLock>();
  private readonly ticketKey = randomBytes(32);
  private readonly csrfKey = randomBytes(32);
  private nextPid = 0x1000 + Math.floor(Math.random() * 0x10000);
  private readonly pstart = 0x100000 + Math.floor(Math.random() * 0x100000);
  private readonly ownsDataDir: boolean;
  private readonly closing = new AbortController();
  private readonly pending = new Set<Promise<void>>();
  private seq = 0;

  private constructor(options: ResolvedPveSimulatorOptions, dataDir: string, ownsDataDir: boolean) {
    // Every running task and lock waiter listens on `closing` (and removes itself when done);
    // dozens at once are normal, not a leak.
    setMaxListeners(0, this.closing.signal);
    this.options = options;
    this.ociImages = new Map(Object.entries(options.ociImages));
    this.version = options.version;
    this.authErrorStyle = options.authErrorStyle ?? (options.version === '8.4' ? 'legacy' : 'unified');
    this.clock = options.clock;
    this.logger = options.logger;
    this.dataDir = dataDir;
    this.ownsDataDir = ownsDataDir;
    this.nodes = options.nodes.map((name) => ({ name }));
    this.storages = options.storages;
    const users = (options.users ?? createDefaultSimulatorUsers()).map((u) => simulatorUserSchema.parse(u));
    this.users = new Map(users.map((u) => [u.userid, u]));
  }

  /** Resolves options, prepares the storage directories and returns the state. */
  static async create(options: PveSimulatorOptions = {}): Promise<PveSimulatorState> {
    const resolved = resolvePveSimulatorOptions(options);
    const owns = resolved.dataDir === undefined;
    const dir = resolved.dataDir ?? (await mkdtemp(join(tmpdir(), 'pve-sim-')));
    const state = new PveSimulatorState(resolved, dir, owns);
    await mkdir(join(dir, 'tmp'), { recursive: true });
    for (const node of state.nodes) {
      for (const storage of state.storages) {
        if (storage.type === 'dir' || storage.type === 'nfs' || storage.type === 'cifs') {
          const base = state.storagePath(node.name, storage.id);
          for (const sub of ['template/cache', 'template/iso', 'import', 'dump', 'snippets', 'images']) {
            await mkdir(join(base, sub), { recursive: true });
          }
        }
      }
    }
    return state;
  }

  /** The credentials of the first user and its first token. */
  get credentials(): SimulatorCredentials {
    const user = [...this.users.values()][0] as SimulatorUser;
    const token = user.tokens[0];
    return {
      username: user.userid,
      password: user.password,
      ...(token
        ? {
            tokenId: `${user.userid}!${token.name}`,
            tokenSecret: token.secret,
            authorization: `PVEAPIToken=${user.userid}!${token.name}=${token.secret}`,
          }
        : {}),
    };
  }

  /** Aborted when the state closes (timers of running tasks stop). */
  get signal(): AbortSignal {
    return this.closing.signal;
  }

  /** The directory of a file-based storage on a node (shared storages have one for the cluster). */
  storagePath(node: string, storage: string): string {
    const def = this.storages.find((s) => s.id === storage);
    return def?.shared ? join(this.dataDir, 'shared', storage) : join(this.dataDir, 'nodes', node, storage);
  }

  /** The file path of a `storage:vztmpl/name` (or `iso/`, `import/`) volume on a node, if file-based. */
  volumePath(node: string, volid: string): string | undefined {
    const match = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(vztmpl|iso|import)\/([^/]+)$/i.exec(volid);
    if (!match || match[3] === '.' || match[3] === '..' || !this.storages.some((s) => s.id === match[1])) return undefined;
    const sub = match[2] === 'vztmpl' ? 'template/cache' : match[2] === 'iso' ? 'template/iso' : 'import';
    return join(this.storagePath(node, match[1] ?? ''), sub, match[3] ?? '');
  }

  // ------------------------------------------------------------------------------------------
  // Faults

  /** Adds a fault rule; returns its id. */
  addFault(rule: PveFaultRule): number {
    const id = this.nextFaultId++;
    this.faults.push({ ...rule, id, fired: 0 });
    return id;
  }

  /** Removes one fault rule. */
  removeFault(id: number): void {
    const index = this.faults.findIndex((f) => f.id === id);
    if (index >= 0) this.faults.splice(index, 1);
  }

  /** Removes every fault rule. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** The active fault rules. */
  get activeFaults(): readonly ActivePveFault[] {
    return this.faults;
  }

  /** Finds the first active rule of `kind` that `test` accepts, counts it as fired, and retires it when used up. */
  takeFault<K extends PveFaultRule['kind']>(kind: K, test: (rule: Extract<ActivePveFault, { kind: K }>) => boolean): Extract<ActivePveFault, { kind: K }> | undefined {
    for (const rule of this.faults) {
      if (rule.kind !== kind) continue;
      const typed = rule as Extract<ActivePveFault, { kind: K }>;
      if (!test(typed)) continue;
      typed.fired += 1;
      if (typed.fired >= (typed.times ?? Number.POSITIVE_INFINITY)) this.removeFault(typed.id);
      return typed;
    }
    return undefined;
  }

  /** True when a `node-offline` rule covers `node` (without counting it as fired). */
  isNodeOffline(node: string): boolean {
    return this.faults.some((f) => f.kind === 'node-offline' && f.node === node);
  }

  // ------------------------------------------------------------------------------------------
  // Request log

  /** Appends a request log entry and returns it (the handler completes it). */
  logRequest(entry: Omit<PveRequestLogEntry, 'seq'>): PveRequestLogEntry {
    const full = { seq: ++this.seq, ...entry };
    this.requestLog.push(full);
    return full;
  }

  /** Empties the request log. */
  clearRequestLog(): void {
    this.requestLog.length = 0;
  }

  // ------------------------------------------------------------------------------------------
  // Tickets and CSRF tokens

  private sign(text: string): string {
    return createHmac('sha256', this.ticketKey).update(text).digest('base64');
  }

  /** Issues a ticket for `userid` (or a TFA half-ticket when `data` starts with `!tfa!`). */
  createTicket(data: string, aad = ''): string {
    const plain = `PVE:${data}:${hex8(Math.floor(this.clock.now() / 1000))}`;
    return `${plain}::${this.sign(`${plain}${aad}`)}`;
  }

  /** Verifies a ticket; returns its data (the user id, or `!tfa!…`) when valid and not expired. */
  verifyTicket(ticket: string, aad = '', lifetimeMs = this.options.ticketLifetimeMs): string | undefined {
    const text = ticket;
    const match = /^(PVE:(.+):([0-9A-F]{8}))::([A-Za-z0-9+/=]+)$/.exec(text);
    if (!match) return undefined;
    const expected = Buffer.from(this.sign(`${match[1]}${aad}`));
    const given = Buffer.from(match[4] ?? '');
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    const age = this.clock.now() / 1000 - parseInt(match[3] ?? '0', 16);
    if (age < -300 || age > lifetimeMs / 1000) return undefined;
    return match[2];
  }

  /** Issues a CSRF prevention token for `userid`. */
  createCsrfToken(userid: string): string {
    const time = hex8(Math.floor(this.clock.now() / 1000));
    const digest = createHmac('sha256', this.csrfKey).update(`${time}:${userid}`).digest('base64').replace(/=+$/, '');
    return `${time}:${digest}`;
  }

  /** Verifies a CSRF prevention token for `userid`. */
  verifyCsrfToken(token: string | undefined, userid: string): boolean {
    const match = /^([0-9A-F]{8}):(\S+)$/.exec(token ?? '');
    if (!match) return false;
    const digest = createHmac('sha256', this.csrfKey).update(`${match[1]}:${userid}`).digest('base64').replace(/=+$/, '');
    if (digest !== match[2]) return false;
    const age = this.clock.now() / 1000 - parseInt(match[1] ?? '0', 16);
    return age >= -300 && age <= this.options.ticketLifetimeMs / 1000;
  }

  // ------------------------------------------------------------------------------------------
  // Locks

  /**
   * Waits for the config lock of `vmid` (flock on `/run/lock/lxc/pve-config-<id>.lock`). Resolves
   * to the release function, or `undefined` when `timeoutMs` passed (PVE's `got timeout`).
   */
  async acquireConfigLock(vmid: number, timeoutMs: number): Promise<(() => void) | undefined> {
    if (this.takeFault('lock-timeout', (f) => f.vmid === vmid)) {
      await this.sleep(timeoutMs);
      return undefined;
    }
    let lock = this.locks.get(vmid);
    if (!lock) {
      lock = new ConfigLock();
      this.locks.set(vmid, lock);
    }
    return lock.acquire(timeoutMs, this.closing.signal);
  }

  /** True while someone holds the config lock of `vmid`. */
  isConfigLocked(vmid: number): boolean {
    return this.locks.get(vmid)?.held === true;
  }

  // ------------------------------------------------------------------------------------------
  // Tasks

  /** Sleeps `ms` (cut short when the state closes). */
  sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const signal = this.closing.signal;
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** The configured duration of a task type, in ms. */
  taskDuration(type: string): number {
    return this.options.taskDurationsMs[type] ?? this.options.taskDurationsMs['default'] ?? 100;
  }

  /**
   * Starts a worker task and returns it at once (its UPID is the API answer). `work` runs
   * asynchronously; a thrown error's message becomes the exit status, as `TASK ERROR: <message>`.
   */
  startTask(node: string, type: string, id: string, authId: string, work: (ctx: TaskContext) => Promise<void>): SimulatedTask {
    const pid = this.nextPid++;
    const starttime = Math.floor(this.clock.now() / 1000);
    const upid = `UPID:${node}:${hex8(pid)}:${hex8(this.pstart)}:${hex8(starttime)}:${type}:${id}:${authId}:`;
    const bang = authId.indexOf('!');
    const injected = this.takeFault('task-failure', (f) => (f.taskType === undefined || f.taskType === type) && (f.vmid === undefined || String(f.vmid) === id));
    const task: SimulatedTask = {
      upid,
      node,
      pid,
      pstart: this.pstart,
      starttime,
      type,
      id,
      user: bang >= 0 ? authId.slice(0, bang) : authId,
      ...(bang >= 0 ? { tokenid: authId.slice(bang + 1) } : {}),
      status: 'running',
      log: [],
      done: Promise.resolve(),
    };
    let warned = 0;
    const ctx: TaskContext = {
      log: (line) => {
        task.log.push(line);
      },
      warn: (line) => {
        warned++;
        task.log.push(`WARN: ${line}`);
      },
      wait: async () => {
        await this.sleep(this.taskDuration(type));
        if (injected && !warnings) throw new TaskExitError(injected.exitStatus);
      },
    };
    // `WARNINGS: n` is a successful end: the work completes, the log carries the warnings.
    const warnings = injected && /^WARNINGS: (\d+)$/.exec(injected.exitStatus);
    const run = async (): Promise<void> => {
      await Promise.resolve();
      try {
        await work(ctx);
        if (warnings) {
          for (let i = 0; i < Number(warnings[1]); i++) task.log.push(`WARN: simulated warning ${i + 1}`);
          task.exitstatus = injected.exitStatus;
          task.log.push(`TASK ${injected.exitStatus}`);
        } else if (warned > 0) {
          task.exitstatus = `WARNINGS: ${warned}`;
          task.log.push(`TASK WARNINGS: ${warned}`);
        } else {
          task.exitstatus = 'OK';
          task.log.push('TASK OK');
        }
      } catch (error) {
        const message = (error instanceof Error ? error.message : String(error)).replace(/\n+$/, '').split('\n')[0] ?? 'unexpected status';
        task.exitstatus = message;
        task.log.push(`TASK ERROR: ${message}`);
      }
      task.endtime = Math.floor(this.clock.now() / 1000);
      task.status = 'stopped';
    };
    task.done = run();
    this.pending.add(task.done);
    void task.done.finally(() => this.pending.delete(task.done));
    this.tasks.set(upid, task);
    return task;
  }

  /** Waits until every running task has stopped. */
  async settle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  /** Stops running tasks' timers and removes the data directory when the state created it. */
  async close(): Promise<void> {
    this.closing.abort();
    await this.settle();
    if (this.ownsDataDir) await rm(this.dataDir, { recursive: true, force: true });
  }
}
