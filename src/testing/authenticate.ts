/**
 * Who calls the simulator, as pveproxy decides it: API tokens, tickets (cookie or header), the
 * CSRF token of ticket sessions, with PVE's 401/403 texts.
 *
 * @module
 */
import { PveApiError } from './api-error.js';
import type { Endpoint, EndpointAuth } from './endpoints/index.js';
import { safeDecode } from './request-body.js';
import type { PveSimulatorState } from './state.js';

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/**
 * Who calls: an API token (`Authorization: PVEAPIToken=…`), nobody for a no-auth endpoint, or a
 * ticket (cookie or `Authorization: PVEAuthCookie=…`).
 * @throws PveApiError 401 for missing or bad credentials, 403 for a token on a ticket-only endpoint
 */
export function authenticate(state: PveSimulatorState, headers: Readonly<Record<string, string | undefined>>, endpoint: Endpoint, apiPath: string): EndpointAuth {
  const unified = state.authErrorStyle === 'unified';
  const authorization = headers['authorization'];
  const tokenMatch = authorization ? /^PVEAPIToken[= ]([^!\s]+)!([^=\s]+)=(\S+)$/.exec(authorization.trim()) : null;
  if (tokenMatch) {
    const [, userid = '', name = '', secret = ''] = tokenMatch;
    const user = state.users.get(userid);
    const token = user?.tokens.find((t) => t.name === name);
    let failure: string | undefined;
    if (!user) failure = `no such user ('${userid}')`;
    else if (!token) failure = `no such token '${name}' for user '${userid}'`;
    else if (token.expire !== 0 && token.expire < state.clock.now() / 1000) failure = `token '${name}' access expired`;
    else if (token.secret !== secret) failure = 'invalid token value!';
    if (failure !== undefined) throw new PveApiError(401, unified ? 'Authentication failed!\n' : `${failure}\n`);
    if (!endpoint.rules.allowToken) {
      throw new PveApiError(403, `Permission check failed (URI '${apiPath}' not available with API token, need proper ticket.\n)`);
    }
    return { kind: 'token', userid, tokenId: `${userid}!${name}`, authId: `${userid}!${name}` };
  }
  if (endpoint.noAuth) return { kind: 'none', userid: '', authId: '' };
  // pveproxy uri-unescapes the auth value (`extract_auth_value`).
  const rawTicket =
    cookieValue(headers['cookie'], 'PVEAuthCookie') ??
    (authorization?.startsWith('PVEAuthCookie=') ? authorization.slice('PVEAuthCookie='.length) : undefined);
  const ticket = rawTicket === undefined ? undefined : safeDecode(rawTicket);
  if (ticket === undefined || ticket === '') throw new PveApiError(401, 'No ticket\n');
  const userid = state.verifyTicket(ticket);
  if (userid === undefined || userid.startsWith('!tfa!') || !state.users.has(userid)) {
    throw new PveApiError(401, unified ? 'Authentication failed!\n' : 'permission denied - invalid PVE ticket\n');
  }
  return { kind: 'ticket', userid, authId: userid };
}

/** A ticket session needs the CSRF token on every call but GET (uploads excepted). */
export function checkCsrf(state: PveSimulatorState, headers: Readonly<Record<string, string | undefined>>, method: string, endpoint: Endpoint, auth: EndpointAuth): void {
  if (auth.kind !== 'ticket' || method === 'GET' || endpoint.skipCsrf) return;
  if (!state.verifyCsrfToken(headers['csrfpreventiontoken'], auth.userid)) throw new PveApiError(401, 'Permission denied - invalid csrf token\n');
}
