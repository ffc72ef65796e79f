/**
 * `GET /nodes`.
 * @module
 */
import { z } from 'zod';
import { numLike, type CallOptions, type Endpoint, type EndpointSender } from './endpoint.js';

/** One entry of `GET /nodes`. */
export const nodeSchema = z.looseObject({
  node: z.string(),
  status: z.string(),
  cpu: numLike.optional(),
  maxcpu: numLike.optional(),
  mem: numLike.optional(),
  maxmem: numLike.optional(),
  uptime: numLike.optional(),
  ssl_fingerprint: z.string().optional(),
});
/** A cluster node as `GET /nodes` lists it. */
export type PveNode = z.output<typeof nodeSchema>;

/** Endpoint: `GET /nodes`. */
export function listNodesEndpoint(): Endpoint<PveNode[]> {
  return { method: 'GET', path: '/nodes', response: z.array(nodeSchema), retry: 'idempotent' };
}

/** `client.nodes`. */
export class NodesApi {
  readonly #send: EndpointSender;
  /** @internal */
  constructor(send: EndpointSender) {
    this.#send = send;
  }
  /** Lists the cluster's nodes with status, memory and TLS fingerprint. */
  list(options?: CallOptions): Promise<PveNode[]> {
    return this.#send(listNodesEndpoint(), options);
  }
}
