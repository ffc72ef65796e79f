/**
 * undici's `Agent` and `request()` for the registry client, loaded from their own modules.
 *
 * The package's index loads all of undici (111 CommonJS files: fetch, WebSocket, EventSource,
 * mock agents, cache stores, interceptors), about 100 ms of a `lxcri pull` process's start-up on
 * a loaded 2-core machine; the dispatcher and the request API alone are 26 files and about a
 * quarter of that. undici 7 has no `exports` map, so its `lib/` files are reachable; should a
 * later layout move them, the index is loaded instead and nothing else changes.
 *
 * @module
 */
import { createRequire } from 'node:module';
import type * as Undici from 'undici';
import type { Agent, Dispatcher } from 'undici';

/** The part of undici the registry client uses. */
export interface UndiciTransport {
  /** undici's `Agent` class. */
  Agent: typeof Agent;
  /** `dispatcher.request(options)`, as `Dispatcher.prototype.request` does it. */
  request(dispatcher: Dispatcher, options: Dispatcher.RequestOptions): Promise<Dispatcher.ResponseData>;
  /** Where the two came from: `lib` (their own modules) or `index` (the whole package). */
  source: 'lib' | 'index';
}

type RequestApi = (this: Dispatcher, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

let loaded: UndiciTransport | undefined;

/** Loads (once) undici's `Agent` and request API: their own modules when present, else the package's index. */
export function undiciTransport(): UndiciTransport {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  try {
    const AgentClass = require('undici/lib/dispatcher/agent') as unknown;
    const requestApi = require('undici/lib/api/api-request') as unknown;
    if (typeof AgentClass === 'function' && typeof requestApi === 'function') {
      const api = requestApi as RequestApi;
      loaded = { Agent: AgentClass as typeof Agent, request: (dispatcher, options) => api.call(dispatcher, options), source: 'lib' };
      return loaded;
    }
  } catch {
    // another layout of undici: fall back to its index below
  }
  const undici = require('undici') as typeof Undici;
  loaded = { Agent: undici.Agent, request: (dispatcher, options) => dispatcher.request(options), source: 'index' };
  return loaded;
}
