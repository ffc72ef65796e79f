/**
 * Waiting for a Proxmox task (UPID): polls the node named in the UPID with backoff until the
 * task stops, the deadline passes or the signal fires. `OK` and `WARNINGS: n` are success;
 * anything else is a `ProxmoxTaskError` carrying the exit status and the task log, read
 * page by page (PVE's default page is only 50 lines).
 *
 * @module
 */
import { ProxmoxHttpError, ProxmoxTaskError, ProxmoxTimeoutError, throwIfAborted } from '../errors.js';
import { parseUpid } from './upid.js';
import { sleep } from '../internal/sleep.js';
import type { Clock, Sleep } from './options.js';

/** `GET /nodes/{node}/tasks/{upid}/status`, as the waiter needs it. */
export interface TaskStatus {
  upid?: string | undefined;
  status: string;
  exitstatus?: string | undefined;
  type?: string | undefined;
  id?: string | undefined;
  node?: string | undefined;
  [key: string]: unknown;
}

/** One task log line. */
export interface TaskLogLine {
  n: number;
  t: string;
}

/** What the waiter needs from a client. */
export interface TaskReader {
  /** `timeoutMs` bounds one attempt, `signal` (when the wait has a deadline) the attempt and its retries. */
  status(upid: string, options: { signal?: AbortSignal; timeoutMs?: number }): Promise<TaskStatus>;
  log(upid: string, options: { start: number; limit: number; signal?: AbortSignal; timeoutMs?: number }): Promise<TaskLogLine[]>;
}

/** Progress of a wait. */
export interface TaskWaitProgress {
  upid: string;
  /** `running` or `stopped`. */
  status: string;
  /** Polls made so far. */
  polls: number;
  elapsedMs: number;
}

/** Per-call options of `tasks.wait`. */
export interface WaitForTaskOptions {
  /**
   * Overall deadline in ms.
   * @defaultValue the client's `tasks.timeoutMs` (10 min)
   */
  timeoutMs?: number;
  /** Cancels the wait (the task keeps running on PVE). */
  signal?: AbortSignal;
  /** Called after each status poll. */
  onProgress?: (progress: TaskWaitProgress) => void;
}

/** Dependencies and defaults of {@link waitForTask}. */
export interface WaitForTaskDeps {
  clock: Clock;
  sleep: Sleep;
  pollMinMs: number;
  pollMaxMs: number;
  timeoutMs: number;
  logPageSize: number;
  /** Keep at most this many log lines in a ProxmoxTaskError (the last ones). @defaultValue 1000 */
  maxLogLines?: number;
}

/** A successful task. */
export interface TaskResult {
  upid: string;
  /** `OK` or `WARNINGS: n`. */
  exitStatus: string;
  /** Number of warnings (0 for `OK`). */
  warnings: number;
  /** The `WARN:` lines of the log when `warnings > 0`. */
  warningLines: string[];
  /** The final status object. */
  status: TaskStatus;
}

/** Default sleep: a timer that rejects with `AbortedError` when the signal fires. */
export const timerSleep: Sleep = (ms, signal) => sleep(ms, signal, 'wait aborted');

/** Reads a whole task log, page by page. */
export async function readTaskLog(reader: TaskReader, upid: string, pageSize: number, signal?: AbortSignal, maxPages = 200): Promise<TaskLogLine[]> {
  const lines: TaskLogLine[] = [];
  for (let page = 0; page < maxPages; page++) {
    const chunk = await reader.log(upid, { start: lines.length, limit: pageSize, ...(signal ? { signal } : {}) });
    lines.push(...chunk);
    if (chunk.length < pageSize) break;
  }
  return lines;
}

/** True for an exit status PVE counts as success. */
export function isTaskSuccess(exitStatus: string | undefined): boolean {
  return exitStatus === 'OK' || /^WARNINGS: \d+$/.test(exitStatus ?? '');
}

/**
 * Polls until the task stops.
 * @throws `ProxmoxTaskError` exit status not OK/WARNINGS (with the log)
 * @throws `ProxmoxTimeoutError` deadline passed
 * @throws `AbortedError` signal fired
 */
export async function waitForTask(reader: TaskReader, upid: string, deps: WaitForTaskDeps, options: WaitForTaskOptions = {}): Promise<TaskResult> {
  const info = parseUpid(upid);
  const timeoutMs = options.timeoutMs ?? deps.timeoutMs;
  const start = deps.clock.now();
  const signal = options.signal;
  let delay = deps.pollMinMs;
  let polls = 0;
  let notYetVisible = 0;
  let last: TaskStatus | undefined;
  const timedOut = (cause?: unknown): ProxmoxTimeoutError =>
    new ProxmoxTimeoutError(
      `task ${info.type} ${info.id} on ${info.node} still ${last?.status ?? 'not seen'} after ${timeoutMs} ms`,
      { upid, timeoutMs, ...(last ? { lastStatus: { ...last } } : {}) },
      cause === undefined ? {} : { cause },
    );
  for (;;) {
    throwIfAborted(signal, `waiting for ${info.type} task`, { upid });
    const left = timeoutMs - (deps.clock.now() - start);
    if (left <= 0) throw timedOut();
    // one poll, with its own timeout and retries, fits in what is left of the wait
    const deadline = AbortSignal.timeout(left);
    const pollSignal = signal ? AbortSignal.any([signal, deadline]) : deadline;
    let status: TaskStatus | undefined;
    try {
      status = await reader.status(upid, { signal: pollSignal, timeoutMs: left });
    } catch (error) {
      if (signal?.aborted) throw error;
      if (deadline.aborted || (error instanceof ProxmoxTimeoutError && deps.clock.now() - start >= timeoutMs)) throw timedOut(error);
      // Right after a task starts, PVE may not know it yet ("no such task").
      if (error instanceof ProxmoxHttpError && error.status === 400 && /no such task/i.test(`${error.pveMessage ?? ''} ${JSON.stringify(error.errors ?? {})} ${error.statusText}`) && notYetVisible < 5) {
        notYetVisible++;
      } else throw error;
    }
    if (status) last = status;
    polls++;
    const elapsedMs = deps.clock.now() - start;
    if (status) {
      options.onProgress?.({ upid, status: status.status, polls, elapsedMs });
      if (status.status !== 'running') {
        const exitStatus = status.exitstatus ?? 'unexpected status';
        if (isTaskSuccess(exitStatus)) {
          const warnings = exitStatus === 'OK' ? 0 : Number(exitStatus.slice('WARNINGS: '.length));
          const warningLines =
            warnings > 0 ? (await readTaskLog(reader, upid, deps.logPageSize, signal)).map((l) => l.t).filter((t) => /^WARN(?:ING)?:/.test(t)) : [];
          return { upid, exitStatus, warnings, warningLines, status };
        }
        let lines: string[] = [];
        try {
          lines = (await readTaskLog(reader, upid, deps.logPageSize, signal)).map((l) => l.t);
        } catch {
          lines = [];
        }
        const max = deps.maxLogLines ?? 1000;
        throw new ProxmoxTaskError({ upid, exitStatus, node: info.node, type: info.type, logTail: lines.slice(-max) });
      }
    }
    const remaining = timeoutMs - (deps.clock.now() - start);
    if (remaining <= 0) throw timedOut();
    throwIfAborted(signal, `waiting for ${info.type} task`, { upid });
    await deps.sleep(Math.min(delay, remaining), signal);
    delay = Math.min(deps.pollMaxMs, Math.ceil(delay * 1.5));
  }
}
