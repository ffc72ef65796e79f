/**
 * A minimal PVE HTTP caller for the simulator tests, written on undici directly (not on the
 * project's Proxmox client, which is tested against the simulator and not the other way round).
 */
import { Agent, request } from 'undici';
import type { PveSimulator } from '../../../src/testing/index.js';

export interface PveReply {
  status: number;
  statusText: string;
  body: { data: unknown; message?: string; errors?: Record<string, string>; total?: number; [k: string]: unknown };
}

export type Credentials =
  | { token: string }
  | { ticket: string; csrf?: string }
  | { none: true };

export class PveHttp {
  readonly agent: Agent;
  constructor(readonly sim: PveSimulator) {
    this.agent = new Agent({ connect: { ca: sim.cert } });
  }

  async call(
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    path: string,
    params: Record<string, string | number> = {},
    auth: Credentials = { token: this.sim.state.credentials.authorization ?? '' },
    options: { json?: boolean; rawBody?: string; contentType?: string } = {},
  ): Promise<PveReply> {
    const headers: Record<string, string> = {};
    if ('token' in auth) headers['authorization'] = auth.token;
    if ('ticket' in auth) {
      headers['cookie'] = `PVEAuthCookie=${encodeURIComponent(auth.ticket)}`;
      if (auth.csrf) headers['csrfpreventiontoken'] = auth.csrf;
    }
    let url = `${this.sim.apiUrl}${path}`;
    let body: string | undefined;
    const entries = Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]);
    if (method === 'GET' || method === 'DELETE') {
      if (entries.length > 0) url += `?${new URLSearchParams(entries).toString()}`;
    } else if (options.rawBody !== undefined) {
      body = options.rawBody;
      headers['content-type'] = options.contentType ?? 'application/x-www-form-urlencoded';
    } else if (options.json) {
      body = JSON.stringify(params);
      headers['content-type'] = 'application/json';
    } else if (entries.length > 0) {
      body = new URLSearchParams(entries).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await request(url, { method, headers, ...(body !== undefined ? { body } : {}), dispatcher: this.agent });
    const text = await res.body.text();
    return { status: res.statusCode, statusText: res.statusText, body: JSON.parse(text) as PveReply['body'] };
  }

  /** Logs in with the simulator's default password user. */
  async login(username = this.sim.state.credentials.username, password = this.sim.state.credentials.password): Promise<{ ticket: string; csrf: string }> {
    const reply = await this.call('POST', '/access/ticket', { username, password }, { none: true });
    if (reply.status !== 200) throw new Error(`login failed: ${reply.status} ${reply.statusText}`);
    const data = reply.body.data as { ticket: string; CSRFPreventionToken: string };
    return { ticket: data.ticket, csrf: data.CSRFPreventionToken };
  }

  /** Polls a task until it stops and returns its status. */
  async waitTask(upid: string, auth?: Credentials): Promise<{ status: string; exitstatus?: string; [k: string]: unknown }> {
    const node = upid.split(':')[1] ?? '';
    for (let i = 0; i < 500; i++) {
      const reply = await this.call('GET', `/nodes/${node}/tasks/${encodeURIComponent(upid)}/status`, {}, auth);
      const data = reply.body.data as { status: string; exitstatus?: string };
      if (data.status === 'stopped') return data;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`task ${upid} did not stop`);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

/** A clock tests move by hand. */
export function manualClock(start = Date.UTC(2026, 0, 15, 12, 0, 0)): { now(): number; advance(ms: number): void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}
