/**
 * A minimal PVE HTTP caller for the simulator tests, written on undici and the global fetch
 * directly (not on the project's Proxmox client, which is tested against the simulator and not
 * the other way round). The same tests run against both front ends of the simulator:
 * - `https`: `startPveSimulator` over real HTTPS, called with undici `request` and an Agent that
 *   trusts the simulator's certificate;
 * - `msw`: `pveSimulatorHandlers` in-process, called with the global `fetch`.
 */
import type { RequestHandler } from 'msw';
import { afterEach } from 'vitest';
import { setupServer } from 'msw/node';
import { Agent, request } from 'undici';
import {
  PveSimulatorState,
  pveSimulatorHandlers,
  startPveSimulator,
  type PveSimulator,
  type PveSimulatorOptions,
} from '../../../src/testing/index.js';

export type FrontEnd = 'https' | 'msw';
export const FRONT_ENDS: readonly FrontEnd[] = ['https', 'msw'];
let mswHosts = 0;
// msw intercepts process-wide: one server holds the handlers of every live msw simulator.
let mswServer: ReturnType<typeof setupServer> | undefined;
const mswHandlers = new Map<number, RequestHandler[]>();
function refreshMsw(): void {
  const all = [...mswHandlers.values()].flat();
  if (all.length === 0) {
    mswServer?.close();
    mswServer = undefined;
    return;
  }
  if (!mswServer) {
    mswServer = setupServer();
    mswServer.listen({ onUnhandledRequest: 'bypass' });
  }
  mswServer.resetHandlers(...all);
}

export interface PveReply {
  status: number;
  statusText: string;
  body: { data: unknown; message?: string; errors?: Record<string, string>; total?: number; [k: string]: unknown };
}

export type Credentials = { token: string } | { ticket: string; csrf?: string } | { none: true };

export class PveHttp {
  readonly agent: Agent | undefined;
  constructor(
    readonly state: PveSimulatorState,
    readonly apiUrl: string,
    cert?: string,
  ) {
    this.agent = cert === undefined ? undefined : new Agent({ connect: { ca: cert } });
  }

  /** Sends a raw request through the front end (undici over HTTPS, or fetch into msw). */
  async send(method: string, url: string, headers: Record<string, string>, body?: string | Buffer): Promise<PveReply> {
    if (this.agent) {
      const res = await request(url, { method: method as 'GET', headers, ...(body !== undefined ? { body } : {}), dispatcher: this.agent });
      const text = await res.body.text();
      return { status: res.statusCode, statusText: res.statusText, body: JSON.parse(text) as PveReply['body'] };
    }
    const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
    return { status: res.status, statusText: res.statusText, body: (await res.json()) as PveReply['body'] };
  }

  async call(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    params: Record<string, string | number> = {},
    auth: Credentials = { token: this.state.credentials.authorization ?? '' },
    options: { json?: boolean; rawBody?: string; contentType?: string } = {},
  ): Promise<PveReply> {
    const headers: Record<string, string> = {};
    if ('token' in auth) headers['authorization'] = auth.token;
    if ('ticket' in auth) {
      headers['cookie'] = `PVEAuthCookie=${encodeURIComponent(auth.ticket)}`;
      if (auth.csrf) headers['csrfpreventiontoken'] = auth.csrf;
    }
    let url = `${this.apiUrl}${path}`;
    let body: string | undefined;
    const entries = Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]);
    if (options.rawBody !== undefined) {
      body = options.rawBody;
      headers['content-type'] = options.contentType ?? 'application/x-www-form-urlencoded';
    } else if (method === 'GET' || method === 'DELETE') {
      if (entries.length > 0) url += `?${new URLSearchParams(entries).toString()}`;
    } else if (options.json) {
      body = JSON.stringify(params);
      headers['content-type'] = 'application/json';
    } else if (entries.length > 0) {
      body = new URLSearchParams(entries).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    return this.send(method, url, headers, body);
  }

  /** Logs in with a password user (the simulator's default one unless given). */
  async login(username = this.state.credentials.username, password = this.state.credentials.password): Promise<{ ticket: string; csrf: string }> {
    const reply = await this.call('POST', '/access/ticket', { username, password }, { none: true });
    if (reply.status !== 200) throw new Error(`login failed: ${reply.status} ${reply.statusText}`);
    const data = reply.body.data as { ticket: string; CSRFPreventionToken: string };
    return { ticket: data.ticket, csrf: data.CSRFPreventionToken };
  }

  /** Waits for the task's end (the simulator's own event), then returns its status as the API reports it. */
  async waitTask(upid: string, auth?: Credentials): Promise<{ status: string; exitstatus?: string; [k: string]: unknown }> {
    const node = upid.split(':')[1] ?? '';
    const task = this.state.tasks.get(upid);
    if (!task) throw new Error(`no task ${upid} in the simulator`);
    await task.done;
    const reply = await this.call('GET', `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`, {}, auth);
    const data = reply.body.data as { status: string; exitstatus?: string };
    if (data.status !== 'stopped') throw new Error(`task ${upid} ended but reads as ${data.status}`);
    return data;
  }

  async close(): Promise<void> {
    await this.agent?.close();
  }
}

/** A started simulator behind one front end. */
export interface SimulatorHandle {
  frontEnd: FrontEnd;
  http: PveHttp;
  state: PveSimulatorState;
  /** Only for the HTTPS front end. */
  sim?: PveSimulator;
  close(): Promise<void>;
}

/** Starts the simulator behind `frontEnd`. */
export async function startFrontEnd(frontEnd: FrontEnd, options: PveSimulatorOptions = {}): Promise<SimulatorHandle> {
  if (frontEnd === 'https') {
    const sim = await startPveSimulator(options);
    const http = new PveHttp(sim.state, sim.apiUrl, sim.cert);
    return {
      frontEnd,
      http,
      state: sim.state,
      sim,
      close: async () => {
        await http.close();
        await sim.close();
      },
    };
  }
  const state = await PveSimulatorState.create(options);
  // one origin per simulator, so two msw simulators in one test do not answer for each other
  const id = ++mswHosts;
  const base = `https://pve${id}.simulator.test:8006`;
  mswHandlers.set(id, await pveSimulatorHandlers(state, { baseUrl: base }));
  refreshMsw();
  const http = new PveHttp(state, `${base}/api2/json`);
  return {
    frontEnd,
    http,
    state,
    close: async () => {
      mswHandlers.delete(id);
      refreshMsw();
      await state.close();
    },
  };
}

/** A clock tests move by hand. */
export function manualClock(start = Date.UTC(2026, 0, 15, 12, 0, 0)): { now(): number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/**
 * One simulator per test behind `frontEnd`: `start()` (re)starts it — task durations default to
 * 5 ms — and an `afterEach` hook closes whatever is running. `handle` is the running one.
 */
export function useFrontEnd(frontEnd: FrontEnd): { start(options?: PveSimulatorOptions): Promise<SimulatorHandle>; readonly handle: SimulatorHandle | undefined } {
  let handle: SimulatorHandle | undefined;
  const stop = async (): Promise<void> => {
    const running = handle;
    handle = undefined;
    await running?.close();
  };
  afterEach(stop);
  return {
    async start(options: PveSimulatorOptions = {}) {
      await stop();
      handle = await startFrontEnd(frontEnd, { taskDurationsMs: { default: 5 }, ...options });
      return handle;
    },
    get handle() {
      return handle;
    },
  };
}
