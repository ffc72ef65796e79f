/**
 * Task endpoints: a node's task list, one task's status and its log.
 *
 * @module
 */
import { paramError } from '../api-error.js';
import type { SimulatedTask } from '../state.js';
import { privilegesOf, requirePrivilege } from './checks.js';
import type { EndpointCall, EndpointResult } from './types.js';

const UPID_RE = /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$/;

function taskOrDie({ state, params, auth }: EndpointCall): SimulatedTask {
  const upid = String(params['upid']);
  if (!UPID_RE.test(upid)) throw paramError({ upid: 'unable to parse worker upid' });
  const task = state.tasks.get(upid);
  if (!task || task.node !== params['node']) throw paramError({ upid: 'no such task' });
  const owner = task.tokenid === undefined ? task.user : `${task.user}!${task.tokenid}`;
  if (owner !== auth.authId && task.user !== auth.authId) requirePrivilege(state, auth, `/nodes/${task.node}`, 'Sys.Audit');
  return task;
}

/** A task as the task lists show it (`status` is the exit status once it stopped). */
export function taskEntry(t: SimulatedTask): Record<string, unknown> {
  return {
    upid: t.upid,
    node: t.node,
    pid: t.pid,
    pstart: t.pstart,
    starttime: t.starttime,
    type: t.type,
    id: t.id,
    user: t.user,
    ...(t.tokenid !== undefined ? { tokenid: t.tokenid } : {}),
    ...(t.status === 'stopped' ? { status: t.exitstatus, endtime: t.endtime } : {}),
  };
}

/** `WARNINGS: n` is no error; anything but `OK` else is. */
function taskStatusType(exitstatus: string | undefined): 'ok' | 'warning' | 'error' | 'unknown' {
  if (exitstatus === undefined) return 'unknown';
  if (exitstatus === 'OK') return 'ok';
  if (/^WARNINGS: \d+$/.test(exitstatus)) return 'warning';
  return 'error';
}

export async function listTasks({ state, params, auth }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  const source = String(params['source'] ?? 'archive');
  const privs = privilegesOf(state, auth);
  const auditor = privs === 'all' || privs.has('Sys.Audit');
  const statuses = params['statusfilter'] === undefined ? undefined : String(params['statusfilter']).toLowerCase().split(/[\0,;\s]+/).filter((x) => x !== '');
  const userfilter = params['userfilter'] === undefined ? undefined : String(params['userfilter']).toLowerCase();
  const list = [...state.tasks.values()]
    .filter((t) => t.node === node)
    .filter((t) => (source === 'all' ? true : source === 'active' ? t.status === 'running' : t.status === 'stopped'))
    .filter((t) => auditor || t.user === auth.userid)
    .filter((t) => params['vmid'] === undefined || t.id === String(params['vmid']))
    .filter((t) => params['typefilter'] === undefined || t.type === params['typefilter'])
    .filter((t) => userfilter === undefined || `${t.user}${t.tokenid === undefined ? '' : `!${t.tokenid}`}`.toLowerCase().includes(userfilter))
    .filter((t) => params['since'] === undefined || t.starttime >= Number(params['since']))
    .filter((t) => params['until'] === undefined || t.starttime <= Number(params['until']))
    .filter((t) => params['errors'] !== 1 || (t.status === 'stopped' && taskStatusType(t.exitstatus) === 'error'))
    .filter((t) => statuses === undefined || (t.status === 'stopped' && statuses.includes(taskStatusType(t.exitstatus))))
    .sort((a, b) => b.starttime - a.starttime || b.pid - a.pid);
  const start = Number(params['start'] ?? 0);
  const limit = Number(params['limit'] ?? 50);
  const page = list.slice(start, start + limit).map(taskEntry);
  return { data: page, extra: { total: list.length } };
}

export async function getTaskStatus(call: EndpointCall): Promise<EndpointResult> {
  const task = taskOrDie(call);
  return {
    data: {
      upid: task.upid,
      node: task.node,
      pid: task.pid,
      pstart: task.pstart,
      starttime: task.starttime,
      type: task.type,
      id: task.id,
      user: task.user,
      ...(task.tokenid !== undefined ? { tokenid: task.tokenid } : {}),
      status: task.status,
      ...(task.status === 'stopped' ? { exitstatus: task.exitstatus } : {}),
    },
  };
}

export async function getTaskLog(call: EndpointCall): Promise<EndpointResult> {
  const task = taskOrDie(call);
  const start = Number(call.params['start'] ?? 0);
  const limit = Number(call.params['limit'] ?? 50);
  const lines = task.log.length > 0 ? task.log : ['no content'];
  if (call.params['download'] === 1) return { data: `${lines.join('\n')}\n` };
  const page = lines.slice(start, start + limit).map((t, i) => ({ n: start + i + 1, t }));
  return { data: page, extra: { total: lines.length } };
}


