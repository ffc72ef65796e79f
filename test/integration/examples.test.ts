/**
 * Every script in examples/ runs to completion against the simulator (or skips with its own
 * printed reason), as a user runs it: `npx tsx examples/<name>.ts` from the checkout.
 */
import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function runExample(name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('PVE_')) delete env[key];
  return new Promise((res) => {
    execFile(process.execPath, ['--import', 'tsx', join(root, 'examples', `${name}.ts`)], { cwd: root, env, timeout: 120_000 }, (error, stdout, stderr) =>
      res({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) }),
    );
  });
}

describe('examples/', () => {
  it.each([
    ['validate-only', /refused \(InvalidArgument\):[\s\S]*config\.metadata\.name/],
    ['custom-policy', /db-main \(postgres:16\) → proxmox-lxc[\s\S]*web \(nginx:1\.27\) → crun|web \(nginx:1\.27\) → crun[\s\S]*db-main \(postgres:16\) → proxmox-lxc/],
    ['create-on-proxmox', /created CT \d+ on pve1[\s\S]*state: CONTAINER_RUNNING[\s\S]*removed the CT and the pod/],
    ['ticket-tfa-login', /logged in with TFA; Proxmox VE 9\.1/],
    ['create-with-crun', /exit code 0; log:[\s\S]*hello from a proxmox-lxcri demo container|skipping: needs root/],
  ])('%s runs', async (name, expected) => {
    const { code, stdout, stderr } = await runExample(name);
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(expected);
  });
});
