/**
 * Placement: choose the online node with the most free memory that has a given storage with the
 * given content types, from `GET /cluster/resources`.
 *
 * @module
 */
import { FailedPreconditionError } from '../errors.js';
import type { ClusterResource } from './api/cluster.js';

/** What a placement needs. */
export interface PlacementCriteria {
  /** Storage id that must be available on the node, e.g. `local-lvm`. */
  storage: string;
  /**
   * Content types the storage must allow, e.g. `['rootdir']` or `['rootdir', 'vztmpl']`.
   * @defaultValue `['rootdir']`
   */
  content?: readonly string[];
  /** Only nodes with at least this much free memory (bytes). @defaultValue 0 */
  minFreeMemory?: number;
  /** Only these nodes (e.g. a node pool). @defaultValue all */
  nodes?: readonly string[];
}

/** The chosen node. */
export interface Placement {
  node: string;
  storage: string;
  /** Free memory of the node in bytes (maxmem - mem). */
  freeMemory: number;
  /** Whether the storage is shared between nodes. */
  shared: boolean;
}

/**
 * Picks a node (pure). Ties are broken by node name for determinism.
 * @throws `FailedPreconditionError` listing why each node was rejected.
 */
export function choosePlacement(resources: readonly ClusterResource[], criteria: PlacementCriteria): Placement {
  const content = criteria.content ?? ['rootdir'];
  const minFree = criteria.minFreeMemory ?? 0;
  const rejected: string[] = [];
  const candidates: Placement[] = [];
  for (const node of resources.filter((r) => r.type === 'node')) {
    const name = node.node ?? node.id.replace(/^node\//, '');
    if (criteria.nodes && !criteria.nodes.includes(name)) continue;
    if (node.status !== 'online') {
      rejected.push(`${name}: ${node.status ?? 'unknown'}`);
      continue;
    }
    const storage = resources.find((r) => r.type === 'storage' && r.node === name && (r.storage ?? r.id.split('/')[2]) === criteria.storage);
    if (!storage) {
      rejected.push(`${name}: no storage ${criteria.storage}`);
      continue;
    }
    if (storage.status !== undefined && storage.status !== 'available') {
      rejected.push(`${name}: storage ${criteria.storage} is ${storage.status}`);
      continue;
    }
    const has = new Set((storage.content ?? '').split(',').map((s) => s.trim()));
    const missingContent = content.filter((c) => !has.has(c));
    if (missingContent.length > 0) {
      rejected.push(`${name}: storage ${criteria.storage} lacks content ${missingContent.join(',')}`);
      continue;
    }
    const freeMemory = Math.max(0, (node.maxmem ?? 0) - (node.mem ?? 0));
    if (freeMemory < minFree) {
      rejected.push(`${name}: ${freeMemory} bytes free < ${minFree}`);
      continue;
    }
    candidates.push({ node: name, storage: criteria.storage, freeMemory, shared: storage.shared === true });
  }
  candidates.sort((a, b) => b.freeMemory - a.freeMemory || a.node.localeCompare(b.node));
  const best = candidates[0];
  if (!best) {
    throw new FailedPreconditionError(`no node can host a CT on storage ${criteria.storage}${rejected.length ? ` (${rejected.join('; ')})` : ' (no nodes)'}`, {
      storage: criteria.storage,
      rejected,
    });
  }
  return best;
}
