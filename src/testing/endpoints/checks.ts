/**
 * The lookups and checks every endpoint group uses: nodes, CTs, storages, config locks and
 * privileges, with PVE's error texts.
 *
 * @module
 */
import { handlerError, permissionError } from '../api-error.js';
import type { PveSimulatorState, SimulatedCt } from '../state.js';
import type { EndpointAuth } from './types.js';

export const lockPath = (vmid: number): string => `/run/lock/lxc/pve-config-${vmid}.lock`;

export async function withConfigLock<T>(state: PveSimulatorState, vmid: number, timeoutMs: number, fn: (release: () => void) => Promise<T> | T): Promise<T> {
  const release = await state.acquireConfigLock(vmid, timeoutMs);
  if (!release) throw handlerError(`can't lock file '${lockPath(vmid)}' - got timeout`);
  try {
    return await fn(release);
  } finally {
    release();
  }
}

export function privilegesOf(state: PveSimulatorState, auth: EndpointAuth): ReadonlySet<string> | 'all' {
  if (auth.authId === 'root@pam') return 'all';
  const user = state.users.get(auth.userid);
  if (!user) return new Set();
  const userPrivs: ReadonlySet<string> | 'all' = auth.userid === 'root@pam' || user.privileges === 'all' ? 'all' : new Set(user.privileges);
  if (auth.tokenId === undefined) return userPrivs;
  const token = user.tokens.find((t) => `${user.userid}!${t.name}` === auth.tokenId);
  if (!token || !token.privsep) return userPrivs;
  const tokenPrivs = new Set(token.privileges);
  return userPrivs === 'all' ? tokenPrivs : new Set([...tokenPrivs].filter((p) => userPrivs.has(p)));
}

export function requirePrivilege(state: PveSimulatorState, auth: EndpointAuth, path: string, privilege: string): void {
  const privs = privilegesOf(state, auth);
  if (privs !== 'all' && !privs.has(privilege)) throw permissionError(`${path}, ${privilege}`);
}

export function ctOrDie(state: PveSimulatorState, node: string, vmid: number): SimulatedCt {
  const ct = state.cts.get(vmid);
  if (!ct || ct.node !== node) throw handlerError(`Configuration file 'nodes/${node}/lxc/${vmid}.conf' does not exist`);
  return ct;
}

export function checkLock(ct: SimulatedCt): void {
  const lock = ct.config['lock'];
  if (lock !== undefined) throw handlerError(`CT ${ct.vmid} is locked (${lock})`);
}

export function nodeOrDie(state: PveSimulatorState, node: string): void {
  if (!state.nodes.some((n) => n.name === node)) {
    throw handlerError(`hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`);
  }
}

export function storageOrDie(state: PveSimulatorState, storageId: string): NonNullable<ReturnType<typeof findStorage>> {
  const storage = findStorage(state, storageId);
  if (!storage) throw handlerError(`storage '${storageId}' does not exist`);
  return storage;
}
export function findStorage(state: PveSimulatorState, storageId: string): PveSimulatorState['storages'][number] | undefined {
  return state.storages.find((s) => s.id === storageId);
}

