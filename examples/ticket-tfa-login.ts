/**
 * Log in to Proxmox VE with a password and a TOTP second factor (tickets are renewed by the client
 * before PVE's 2 h expiry; a later login asks the `otp` function again). Against the simulator,
 * whose user `alice@pve` has TOTP; on a real node set PVE_URL, PVE_USER, PVE_PASSWORD,
 * PVE_FINGERPRINT and type the code when asked.
 *
 *   npx tsx examples/ticket-tfa-login.ts
 */
import { createInterface } from 'node:readline/promises';
import { ProxmoxClient } from 'proxmox-lxcri';
import { createSimulatorUser, startPveSimulator, totp } from 'proxmox-lxcri/testing';

const env = process.env;
const TOTP_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DP';
const sim = env['PVE_URL'] ? undefined : await startPveSimulator({ users: [createSimulatorUser('alice@pve', 'correct horse', { totpSecret: TOTP_SECRET })] });
const client = new ProxmoxClient({
  baseUrl: sim?.url ?? (env['PVE_URL'] as string),
  tls: { fingerprint256: sim?.fingerprint256 ?? (env['PVE_FINGERPRINT'] as string) },
  auth: {
    type: 'password',
    username: sim ? 'alice@pve' : (env['PVE_USER'] as string),
    password: sim ? 'correct horse' : (env['PVE_PASSWORD'] as string),
    // called for every login that PVE answers with a TFA challenge
    otp: async () => {
      if (sim) return totp(TOTP_SECRET);
      const rl = createInterface({ input: process.stdin, output: process.stdout });
      try {
        return (await rl.question('TOTP code: ')).trim();
      } finally {
        rl.close();
      }
    },
  },
});
try {
  const version = await client.version.get();
  console.log(`logged in with TFA; Proxmox VE ${version.version}`);
  const nodes = await client.nodes.list();
  console.log('nodes:', nodes.map((n) => `${n.node} (${n.status})`).join(', '));
} finally {
  await client.close();
  await sim?.close();
}
