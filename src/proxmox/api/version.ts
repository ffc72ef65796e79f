/**
 * `GET /version`.
 * @module
 */
import { z } from 'zod';
import type { CallOptions, Endpoint, EndpointSender } from './endpoint.js';

/** Answer of `GET /version`. */
export const versionSchema = z.looseObject({ version: z.string(), release: z.string(), repoid: z.string(), console: z.string().optional() });
/** PVE version info. */
export type PveVersion = z.output<typeof versionSchema>;

/** Endpoint: `GET /version`. */
export function versionEndpoint(): Endpoint<PveVersion> {
  return { method: 'GET', path: '/version', response: versionSchema, retry: 'idempotent' };
}

/** `client.version`. */
export class VersionApi {
  readonly #send: EndpointSender;
  /** @internal */
  constructor(send: EndpointSender) {
    this.#send = send;
  }
  /** PVE version of the node answering. */
  get(options?: CallOptions): Promise<PveVersion> {
    return this.#send(versionEndpoint(), options);
  }
}
