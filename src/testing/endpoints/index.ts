/**
 * The endpoint table of the simulator: what each served PVE API call does to the state, with
 * PVE's synchronous errors (HTTP answers) and worker tasks (UPIDs) where PVE has them. One module
 * per API area: access, cluster (version, nodes, cluster, pools), lxc (create in lxc-create),
 * storage, upload, tasks, oci-registry; checks and ct-config hold what several areas share.
 *
 * @module
 */
import { ENDPOINT_RULES, type EndpointRules } from '../param-rules.js';
import { postTicket } from './access.js';
import {
  getClusterResources,
  getClusterStatus,
  getClusterTasks,
  getNextId,
  getNodeStatus,
  getNodes,
  getPools,
  getStorageConfig,
  getVersion,
} from './cluster.js';
import {
  destroyCt,
  getConfig,
  getCtIndex,
  getCtInterfaces,
  getCtStatusIndex,
  getStatusCurrent,
  listCts,
  powerAction,
  putConfig,
} from './lxc.js';
import { createCt } from './lxc-create.js';
import { getOciRepoTags, postOciRegistryPull } from './oci-registry.js';
import { deleteVolume, getContent, getStorages, getVolume } from './storage.js';
import { getTaskLog, getTaskStatus, listTasks } from './tasks.js';
import type { Endpoint } from './types.js';
import { handleUpload } from './upload.js';

export type { Endpoint, EndpointAuth, EndpointCall, EndpointResult } from './types.js';

const rulesFor = (method: EndpointRules['method'], path: string): EndpointRules => {
  const rules = ENDPOINT_RULES.find((r) => r.method === method && r.path === path);
  if (!rules) throw new Error(`no rules for ${method} ${path}`);
  return rules;
};

/** Every endpoint the simulator serves. */
export const ENDPOINTS: readonly Endpoint[] = [
  { rules: rulesFor('GET', '/version'), handle: getVersion },
  { rules: rulesFor('POST', '/access/ticket'), noAuth: true, handle: postTicket },
  { rules: rulesFor('GET', '/nodes'), handle: getNodes },
  { rules: rulesFor('GET', '/cluster/resources'), handle: getClusterResources },
  { rules: rulesFor('GET', '/cluster/nextid'), handle: getNextId },
  { rules: rulesFor('GET', '/nodes/{node}/lxc'), proxied: true, handle: listCts },
  { rules: rulesFor('POST', '/nodes/{node}/lxc'), proxied: true, handle: createCt },
  { rules: rulesFor('GET', '/nodes/{node}/lxc/{vmid}/config'), proxied: true, handle: getConfig },
  { rules: rulesFor('PUT', '/nodes/{node}/lxc/{vmid}/config'), proxied: true, handle: putConfig },
  { rules: rulesFor('GET', '/nodes/{node}/lxc/{vmid}/status/current'), proxied: true, handle: getStatusCurrent },
  { rules: rulesFor('POST', '/nodes/{node}/lxc/{vmid}/status/start'), proxied: true, handle: powerAction('vzstart') },
  { rules: rulesFor('POST', '/nodes/{node}/lxc/{vmid}/status/stop'), proxied: true, handle: powerAction('vzstop') },
  { rules: rulesFor('POST', '/nodes/{node}/lxc/{vmid}/status/shutdown'), proxied: true, handle: powerAction('vzshutdown') },
  { rules: rulesFor('DELETE', '/nodes/{node}/lxc/{vmid}'), proxied: true, handle: destroyCt },
  { rules: rulesFor('GET', '/nodes/{node}/storage'), proxied: true, handle: getStorages },
  { rules: rulesFor('GET', '/nodes/{node}/storage/{storage}/content'), proxied: true, handle: getContent },
  { rules: rulesFor('GET', '/nodes/{node}/storage/{storage}/content/{volume}'), proxied: true, handle: getVolume },
  { rules: rulesFor('DELETE', '/nodes/{node}/storage/{storage}/content/{volume}'), proxied: true, handle: deleteVolume },
  { rules: rulesFor('POST', '/nodes/{node}/storage/{storage}/upload'), upload: true, skipCsrf: true, handle: handleUpload },
  { rules: rulesFor('GET', '/nodes/{node}/tasks'), proxied: true, handle: listTasks },
  { rules: rulesFor('GET', '/nodes/{node}/tasks/{upid}/status'), proxied: true, handle: getTaskStatus },
  { rules: rulesFor('GET', '/nodes/{node}/tasks/{upid}/log'), proxied: true, handle: getTaskLog },
  { rules: rulesFor('GET', '/nodes/{node}/status'), proxied: true, handle: getNodeStatus },
  { rules: rulesFor('GET', '/cluster/status'), handle: getClusterStatus },
  { rules: rulesFor('GET', '/cluster/tasks'), handle: getClusterTasks },
  { rules: rulesFor('GET', '/nodes/{node}/lxc/{vmid}'), proxied: true, handle: getCtIndex },
  { rules: rulesFor('GET', '/nodes/{node}/lxc/{vmid}/status'), proxied: true, handle: getCtStatusIndex },
  { rules: rulesFor('GET', '/nodes/{node}/lxc/{vmid}/interfaces'), proxied: true, handle: getCtInterfaces },
  { rules: rulesFor('POST', '/nodes/{node}/lxc/{vmid}/status/reboot'), proxied: true, handle: powerAction('vzreboot') },
  { rules: rulesFor('GET', '/storage'), handle: getStorageConfig },
  { rules: rulesFor('GET', '/pools'), handle: getPools },
  { rules: rulesFor('POST', '/nodes/{node}/storage/{storage}/oci-registry-pull'), proxied: true, handle: postOciRegistryPull },
  { rules: rulesFor('GET', '/nodes/{node}/query-oci-repo-tags'), proxied: true, handle: getOciRepoTags },
];
