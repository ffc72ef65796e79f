/**
 * `templateSource: 'registry'` (PVE 9.1): the runtime asks the node to pull the image
 * (`POST …/oci-registry-pull` with the reference and the template's file name, then waits the
 * `ociregistrypull` task) and creates the CT from `<storage>:vztmpl/<file>.tar`. The simulator on
 * this branch does not serve oci-registry-pull, so an msw handler stands in for it over the
 * simulator's state: it writes the image as an OCI archive into the storage in a worker task,
 * as skopeo would. A second create finds the template and pulls nothing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpResponse, http } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageLayout, type ResolvedImage } from '../../../../src/oci/image/layout.js';
import { ProxmoxClient } from '../../../../src/proxmox/client.js';
import { writeOciArchive } from '../../../../src/runtimes/proxmox-lxc/oci-archive.js';
import { ProxmoxLxcRuntime } from '../../../../src/runtimes/proxmox-lxc/runtime.js';
import { PveSimulatorState, pveSimulatorHandlers } from '../../../../src/testing/index.js';
import { caught } from '../../../helpers/caught.js';
import { packTar, writeImageLayout } from '../../../helpers/oci-fixtures.js';
import { request } from './request.js';

const BASE = 'https://pve.registry.test:8006';

describe('ProxmoxLxcRuntime with templateSource registry (PVE 9.1, msw)', () => {
  let state: PveSimulatorState;
  let work: string;
  let image: ResolvedImage;
  const pulls: Record<string, string>[] = [];
  const server = setupServer();

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lxcri-lxc-registry-'));
    const layer = await packTar([{ name: 'app', content: '#!/bin/sh\necho hi\n', mode: 0o755 }]);
    writeImageLayout(join(work, 'image'), [{ tar: layer }], { ref: '1.2', config: { config: { Entrypoint: ['/app'], Env: ['PATH=/bin'], WorkingDir: '/work' } } });
    image = await (await openImageLayout(join(work, 'image'))).resolve('1.2');
    image = { ...image, reference: 'registry.example.com/team/app:1.2' };
    state = await PveSimulatorState.create({ version: '9.1', taskDurationsMs: { default: 5 } });
    server.listen({ onUnhandledRequest: 'error' });
    server.use(
      http.post(`${BASE}/api2/json/nodes/:node/storage/:storage/oci-registry-pull`, async ({ request: req, params }) => {
        const form = Object.fromEntries(new URLSearchParams(await req.text()));
        pulls.push(form);
        const node = String(params['node']);
        const volid = `${String(params['storage'])}:vztmpl/${form['filename'] ?? ''}.tar`;
        const target = state.volumePath(node, volid) as string;
        const task = state.startTask(node, 'ociregistrypull', String(params['storage']), 'root@pam!lxcri', async (ctx) => {
          ctx.log(`pulling ${form['reference'] ?? ''}`);
          await writeOciArchive(image, target);
          await ctx.wait();
        });
        return HttpResponse.json({ data: task.upid });
      }),
      ...(await pveSimulatorHandlers(state, { baseUrl: BASE })),
    );
  });
  afterAll(async () => {
    server.close();
    await state?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  function runtime(): { client: ProxmoxClient; runtime: ProxmoxLxcRuntime } {
    const { tokenId, tokenSecret } = state.credentials;
    const client = new ProxmoxClient({
      baseUrl: BASE,
      auth: { type: 'token', tokenId: tokenId as string, secret: tokenSecret as string },
      tasks: { pollMinMs: 5, pollMaxMs: 20, timeoutMs: 10_000, logPageSize: 50 },
    });
    return { client, runtime: new ProxmoxLxcRuntime(client, { templateSource: 'registry', workDir: join(work, 'tmp'), pollMs: 10 }) };
  }

  it('pulls once, creates the CT from the pulled archive, and sets the CRI process', async () => {
    const { client, runtime: rt } = runtime();
    try {
      const req = request({ config: { command: ['/app'], args: ['--port', '80'], workingDir: '' } });
      const a = await rt.create(req, image, { containerId: 'reg-a' });
      const b = await rt.create(req, image, { containerId: 'reg-b' });
      const name = `lxcri-${image.manifestDigest.slice(7, 23)}`;
      expect(pulls).toEqual([{ reference: 'registry.example.com/team/app:1.2', filename: name }]);
      expect([a.templateVolid, b.templateVolid]).toEqual([`local:vztmpl/${name}.tar`, `local:vztmpl/${name}.tar`]);
      const config = await client.lxc.config(a.node, a.vmid);
      expect(config).toMatchObject({ entrypoint: '/app "--port" "80"', cmode: 'console' });
      expect(state.tasks.size).toBeGreaterThan(0);
      expect([...state.tasks.values()].filter((t) => t.type === 'ociregistrypull')).toHaveLength(1);
    } finally {
      await client.close();
    }
  });

  it('refuses a reference without a tag before asking the node', async () => {
    const { client, runtime: rt } = runtime();
    try {
      const digestOnly = { ...image, manifestDigest: `sha256:${'1'.repeat(64)}`, reference: `registry.example.com/app@sha256:${'1'.repeat(64)}` };
      const error = await caught(rt.create(request({ config: { workingDir: '' } }), digestOnly, { containerId: 'reg-c' }));
      expect(error).toMatchObject({ code: 'ERR_FAILED_PRECONDITION' });
      expect(error.message).toContain('needs a registry reference with a tag');
      expect(pulls).toHaveLength(1);
    } finally {
      await client.close();
    }
  });
});
