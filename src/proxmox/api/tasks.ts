/**
 * Task endpoints: status, log, and `wait`.
 * @module
 */
import { z } from 'zod';
import { expandPath } from '../transport/encode.js';
import { parseUpid } from '../upid.js';
import { readTaskLog, waitForTask, type TaskLogLine, type TaskResult, type TaskStatus, type WaitForTaskDeps, type WaitForTaskOptions } from '../wait-for-task.js';
import { intLike, nullResponse, type CallOptions, type Endpoint, type EndpointSender } from './endpoint.js';

/** `GET /nodes/{node}/tasks/{upid}/status`. */
export const taskStatusSchema = z.looseObject({
  upid: z.string().optional(),
  node: z.string().optional(),
  status: z.string(),
  exitstatus: z.string().optional(),
  type: z.string().optional(),
  id: z.string().optional(),
  user: z.string().optional(),
  pid: intLike.optional(),
  starttime: intLike.optional(),
});

/** `GET /nodes/{node}/tasks/{upid}/log`. */
export const taskLogSchema = z.array(z.looseObject({ n: intLike, t: z.string() }));

const taskPath = (upid: string, suffix: string): string => expandPath(`/nodes/{node}/tasks/{upid}${suffix}`, { node: parseUpid(upid).node, upid });

/** Endpoint builders (pure). The node is taken from the UPID. */
export const taskEndpoints = {
  status: (upid: string): Endpoint<TaskStatus> => ({ method: 'GET', path: taskPath(upid, '/status'), response: taskStatusSchema, retry: 'idempotent' }),
  log: (upid: string, start: number, limit: number): Endpoint<TaskLogLine[]> => ({
    method: 'GET',
    path: taskPath(upid, '/log'),
    params: { start, limit },
    response: taskLogSchema,
    retry: 'idempotent',
  }),
  stop: (upid: string): Endpoint<null> => ({ method: 'DELETE', path: taskPath(upid, ''), response: nullResponse, retry: 'idempotent' }),
};

/** `client.tasks`. */
export class TasksApi {
  readonly #send: EndpointSender;
  readonly #deps: WaitForTaskDeps;
  /** @internal */
  constructor(send: EndpointSender, deps: WaitForTaskDeps) {
    this.#send = send;
    this.#deps = deps;
  }
  /** Status of a task (asked of the node in the UPID). */
  status(upid: string, options: CallOptions = {}): Promise<TaskStatus> {
    return this.#send(taskEndpoints.status(upid), options);
  }
  /** One page of the task log. */
  log(upid: string, options: CallOptions & { start?: number; limit?: number } = {}): Promise<TaskLogLine[]> {
    return this.#send(taskEndpoints.log(upid, options.start ?? 0, options.limit ?? this.#deps.logPageSize), options);
  }
  /** The whole task log, read page by page. */
  fullLog(upid: string, options: CallOptions = {}): Promise<TaskLogLine[]> {
    return readTaskLog({ status: (u, o) => this.status(u, o), log: (u, o) => this.log(u, o) }, upid, this.#deps.logPageSize, options.signal);
  }
  /** Stops a running task. */
  stop(upid: string, options: CallOptions = {}): Promise<null> {
    return this.#send(taskEndpoints.stop(upid), options);
  }
  /**
   * Waits for a task to stop. `OK` and `WARNINGS: n` resolve (warnings returned); anything else
   * throws `ProxmoxTaskError` with the exit status and the log.
   *
   * @example
   * ```ts
   * const upid = await client.lxc.start('pve1', 101);
   * await client.tasks.wait(upid, { timeoutMs: 60_000 });
   * ```
   */
  wait(upid: string, options: WaitForTaskOptions = {}): Promise<TaskResult> {
    return waitForTask({ status: (u, o) => this.status(u, o), log: (u, o) => this.log(u, o) }, upid, this.#deps, options);
  }
}
