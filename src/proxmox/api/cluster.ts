/**
 * `GET /cluster/resources`, `GET /cluster/nextid`.
 * @module
 */
import { z } from 'zod';
import { boolLike, intLike, numLike, type CallOptions, type Endpoint, type EndpointSender } from './endpoint.js';

/** One entry of `GET /cluster/resources`. */
export const clusterResourceSchema = z.looseObject({
  id: z.string(),
  type: z.string(),
  node: z.string().optional(),
  status: z.string().optional(),
  name: z.string().optional(),
  vmid: intLike.optional(),
  storage: z.string().optional(),
  content: z.string().optional(),
  shared: boolLike.optional(),
  plugintype: z.string().optional(),
  mem: numLike.optional(),
  maxmem: numLike.optional(),
  cpu: numLike.optional(),
  maxcpu: numLike.optional(),
  disk: numLike.optional(),
  maxdisk: numLike.optional(),
  template: boolLike.optional(),
  lock: z.string().optional(),
  tags: z.string().optional(),
});
/** A cluster resource (node, storage, guest, …). */
export type ClusterResource = z.output<typeof clusterResourceSchema>;

/** Filter of `GET /cluster/resources`. */
export type ClusterResourceType = 'vm' | 'storage' | 'node' | 'sdn';

/** Endpoint: `GET /cluster/resources`. */
export function clusterResourcesEndpoint(type?: ClusterResourceType): Endpoint<ClusterResource[]> {
  return { method: 'GET', path: '/cluster/resources', params: { type }, response: z.array(clusterResourceSchema), retry: 'idempotent' };
}

/** Endpoint: `GET /cluster/nextid` (optionally checking a given id: PVE answers 400 if it is taken). */
export function nextIdEndpoint(vmid?: number): Endpoint<number> {
  return { method: 'GET', path: '/cluster/nextid', params: { vmid }, response: intLike, retry: 'idempotent' };
}

/** `client.cluster`. */
export class ClusterApi {
  readonly #send: EndpointSender;
  /** @internal */
  constructor(send: EndpointSender) {
    this.#send = send;
  }
  /** Lists cluster resources, optionally of one type. */
  resources(options: CallOptions & { type?: ClusterResourceType } = {}): Promise<ClusterResource[]> {
    return this.#send(clusterResourcesEndpoint(options.type), options);
  }
  /**
   * The lowest free VMID, or `vmid` itself if free. Nothing is reserved: use
   * `client.allocateVmid()` to create without races.
   */
  nextid(options: CallOptions & { vmid?: number } = {}): Promise<number> {
    return this.#send(nextIdEndpoint(options.vmid), options);
  }
}
