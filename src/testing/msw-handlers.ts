/**
 * msw 2 request handlers over a simulator state, for in-process tests with the global `fetch`.
 * This module imports `msw` statically; the public entry point loads it lazily (see
 * `pveSimulatorHandlers` in `index.ts`) so that users of `startPveSimulator` do not need msw.
 *
 * @module
 */
import { http, HttpResponse, type RequestHandler } from 'msw';
import { handlePveRequest } from './handler.js';
import type { PveSimulatorState } from './state.js';

/** Options of the msw handlers. */
export interface PveSimulatorHandlersOptions {
  /**
   * The origin the handlers answer for; the API is under `<baseUrl>/api2/json`.
   * @defaultValue `'https://pve.simulator.test:8006'`
   */
  baseUrl?: string;
}

/** Builds the msw handlers (msw loaded). */
export function buildPveSimulatorHandlers(state: PveSimulatorState, options: PveSimulatorHandlersOptions = {}): RequestHandler[] {
  const base = (options.baseUrl ?? 'https://pve.simulator.test:8006').replace(/\/+$/, '');
  return [
    http.all(`${base}/api2/json/*`, async ({ request }) => {
      const headers: Record<string, string> = {};
      request.headers.forEach((value, key) => {
        headers[key.toLowerCase()] = value;
      });
      const url = new URL(request.url);
      const response = await handlePveRequest(state, {
        method: request.method,
        url: `${url.pathname}${url.search}`,
        headers,
        body: request.body ? (request.body as unknown as AsyncIterable<Uint8Array>) : null,
      });
      if (response.drop) return HttpResponse.error();
      return new HttpResponse(response.body, { status: response.status, statusText: response.statusText, headers: response.headers });
    }),
  ];
}
