/**
 * `POST /access/ticket`: password, ticket renewal and TOTP second factor logins.
 *
 * @module
 */
import { PveApiError } from '../api-error.js';
import { PVE_PRIVILEGES } from '../param-formats.js';
import type { PveSimulatorState } from '../state.js';
import { verifyTotp } from '../totp.js';
import { privilegesOf } from './checks.js';
import type { EndpointCall, EndpointResult } from './types.js';

export async function postTicket({ state, params }: EndpointCall): Promise<EndpointResult> {
  const fail = (reason: string): PveApiError => {
    state.logger.debug({ reason }, 'simulated authentication failure');
    return new PveApiError(401, 'authentication failure\n');
  };
  let username = String(params['username']);
  if (params['realm'] !== undefined && !username.includes('@')) username = `${username}@${String(params['realm'])}`;
  const user = state.users.get(username);
  if (!user) throw fail(`no such user '${username}'`);
  const password = String(params['password']);
  const issue = (): EndpointResult => ({
    data: {
      username,
      ticket: state.createTicket(username),
      CSRFPreventionToken: state.createCsrfToken(username),
      clustername: state.options.clusterName,
      cap: capabilities(state, username),
    },
  });

  if (params['tfa-challenge'] !== undefined) {
    if (params['otp'] !== undefined) throw fail("TFA response should be in 'password', not 'otp' when 'tfa-challenge' is set");
    const data = state.verifyTicket(String(params['tfa-challenge']), username, 300_000);
    if (data === undefined || !data.startsWith('!tfa!')) throw fail('invalid tfa challenge');
    if (!verifySecondFactor(state, user.totpSecret, password)) throw fail('invalid tfa response');
    return issue();
  }
  // Renewal: a valid ticket of the same user as password (else it is tried as a password).
  if (password.startsWith('PVE:') && state.verifyTicket(password) === username) return issue();
  if (password !== user.password) throw fail('invalid password');
  if (user.totpSecret !== undefined) {
    if (params['otp'] !== undefined) {
      if (!verifySecondFactor(state, user.totpSecret, String(params['otp']))) throw fail('invalid tfa response');
      return issue();
    }
    const challenge = `!tfa!${JSON.stringify({ totp: true }).replace(/%/g, '%25').replace(/:/g, '%3A')}`;
    return {
      data: {
        username,
        ticket: state.createTicket(challenge, username),
        CSRFPreventionToken: state.createCsrfToken(username),
        NeedTFA: 1,
      },
    };
  }
  return issue();
}

function verifySecondFactor(state: PveSimulatorState, secret: string | undefined, response: string): boolean {
  if (secret === undefined) return false;
  const match = /^totp:(\d{6})$/.exec(response);
  if (!match) return false;
  return verifyTotp(secret, match[1] ?? '', state.clock.now());
}

function capabilities(state: PveSimulatorState, userid: string): Record<string, Record<string, number>> {
  const privs = privilegesOf(state, { kind: 'ticket', userid, authId: userid });
  const has = (p: string): number => (privs === 'all' || privs.has(p) ? 1 : 0);
  const group = (prefix: string[]): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const p of PVE_PRIVILEGES) if (prefix.some((x) => p.startsWith(x)) && has(p)) out[p] = 1;
    return out;
  };
  return {
    vms: group(['VM.']),
    storage: group(['Datastore.']),
    nodes: group(['Sys.']),
    access: group(['User.', 'Group.', 'Permissions.', 'Realm.']),
    dc: group(['SDN.', 'Sys.Audit']),
    sdn: group(['SDN.']),
    mapping: group(['Mapping.']),
  };
}

