import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { describe, expect, it } from 'vitest';
import { startPveSimulator, type PveSimulatorOptions } from '../../../src/testing/index.js';
import { ociArchive } from './templates.js';
import { FRONT_ENDS, useFrontEnd, type PveHttp, type PveReply } from './pve-http.js';

const BOUNDARY = '----lxcri-test-boundary-7f3a';

type Part = { name: string; value: string } | { name: string; filename: string; data: Buffer };

function multipart(parts: Part[]): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    if ('value' in part) {
      chunks.push(Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.name}"\r\n\r\n${part.value}\r\n`));
    } else {
      chunks.push(
        Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${part.name}"; filename="${part.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
        part.data,
        Buffer.from('\r\n'),
      );
    }
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

describe.each(FRONT_ENDS)('PVE simulator template upload (%s)', (frontEnd) => {
  const sim = useFrontEnd(frontEnd);

  async function start(options: PveSimulatorOptions = {}): Promise<PveHttp> {
    const handle = await sim.start(options);
    return handle.http;
  }

  /** Posts a multipart body with its Content-Length (fetch under msw does not add it). */
  async function upload(
    http: PveHttp,
    body: Buffer,
    options: { storage?: string; headers?: Record<string, string>; auth?: Record<string, string> } = {},
  ): Promise<PveReply> {
    const headers: Record<string, string> = {
      'content-type': `multipart/form-data; boundary=${BOUNDARY}`,
      ...(options.auth ?? { authorization: http.state.credentials.authorization ?? '' }),
      'content-length': String(body.length),
      ...options.headers,
    };
    return http.send('POST', `${http.apiUrl}/nodes/pve1/storage/${options.storage ?? 'local'}/upload`, headers, body);
  }

  const cacheDir = (): string => join(sim.handle?.state.storagePath('pve1', 'local') ?? '', 'template/cache');
  const tmpFiles = async (): Promise<string[]> => readdir(join(sim.handle?.state.dataDir ?? '', 'tmp'));

  it('stores a template with a verified checksum under its normalised name', async () => {
    const http = await start();
    const data = randomBytes(200_000);
    const checksum = createHash('sha256').update(data).digest('hex');
    const reply = await upload(
      http,
      multipart([
        { name: 'content', value: 'vztmpl' },
        { name: 'checksum-algorithm', value: 'sha256' },
        { name: 'checksum', value: checksum },
        { name: 'filename', filename: 'my template (1).tar.zst', data },
      ]),
    );
    expect(reply.status).toBe(200);
    expect(reply.body.data).toMatch(/^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:imgcopy::root@pam!lxcri:$/);
    expect(await http.waitTask(reply.body.data as string)).toMatchObject({ exitstatus: 'OK' });
    const stored = await readFile(join(cacheDir(), 'my_template__1_.tar.zst'));
    expect(stored.equals(data)).toBe(true);
    const content = await http.call('GET', '/nodes/pve1/storage/local/content', { content: 'vztmpl' });
    expect(content.body.data).toEqual([expect.objectContaining({ volid: 'local:vztmpl/my_template__1_.tar.zst', size: data.length, format: 'tzst', content: 'vztmpl' })]);
    expect(await tmpFiles()).toEqual([]);
    const entry = sim.handle?.state.requestLog.find((e) => e.upid === reply.body.data);
    expect(entry?.params).toEqual({ node: 'pve1', storage: 'local', content: 'vztmpl', 'checksum-algorithm': 'sha256', checksum, filename: 'my template (1).tar.zst', size: data.length });
    expect(Object.keys(entry?.params ?? {}).slice(2)).toEqual(['content', 'checksum-algorithm', 'checksum', 'filename', 'size']);
  });

  it('fails the imgcopy task on a checksum mismatch and leaves nothing behind', async () => {
    const http = await start();
    const data = Buffer.from('template bytes');
    const got = createHash('md5').update(data).digest('hex');
    const reply = await upload(
      http,
      multipart([
        { name: 'content', value: 'vztmpl' },
        { name: 'checksum-algorithm', value: 'md5' },
        { name: 'checksum', value: '0123456789abcdef0123456789abcdef' },
        { name: 'filename', filename: 'x.tar.xz', data },
      ]),
    );
    expect(reply.status).toBe(200);
    expect(await http.waitTask(reply.body.data as string)).toMatchObject({ exitstatus: `checksum mismatch: got '${got}' != expect '0123456789abcdef0123456789abcdef'` });
    expect(await readdir(cacheDir())).toEqual([]);
    expect(await tmpFiles()).toEqual([]);
  });

  it('enforces the field order: text fields after the file part are file data, out-of-order fields break the parse', async () => {
    const http = await start();
    const data = Buffer.from('payload');
    const late = await upload(
      http,
      multipart([
        { name: 'content', value: 'vztmpl' },
        { name: 'checksum-algorithm', value: 'sha1' },
        { name: 'filename', filename: 'late.tar.gz', data },
        { name: 'checksum', value: createHash('sha1').update(data).digest('hex') },
      ]),
    );
    expect([late.status, late.body.errors]).toEqual([400, { checksum: "missing property - 'checksum-algorithm' requires this property" }]);
    const swapped = await upload(
      http,
      multipart([
        { name: 'content', value: 'vztmpl' },
        { name: 'checksum', value: 'abc' },
        { name: 'checksum-algorithm', value: 'sha1' },
        { name: 'filename', filename: 'swapped.tar.gz', data },
      ]),
    );
    expect(swapped.status).toBe(501);
    expect(swapped.statusText).toBe('wrong Content-Disposition \'form-data; name="checksum-algorithm"\' in multipart, expected \'form-data\'');
    const wrongName = await upload(http, multipart([{ name: 'content', value: 'vztmpl' }, { name: 'file', filename: 'a.tar.gz', data }]));
    expect([wrongName.status, wrongName.statusText]).toEqual([501, "wrong field name 'file' for file upload, expected 'filename'"]);
    const noContent = await upload(http, multipart([{ name: 'filename', filename: 'a.tar.gz', data }]));
    expect(noContent.body.errors).toEqual({ content: 'property is missing and it is not optional' });
    expect(await tmpFiles()).toEqual([]);
  });

  it('checks extensions per content type and PVE version, and the storage type', async () => {
    const http = await start();
    const data = Buffer.from('x');
    const zip = await upload(http, multipart([{ name: 'content', value: 'vztmpl' }, { name: 'filename', filename: 'rootfs.zip', data }]));
    expect([zip.status, zip.body.errors]).toEqual([400, { filename: 'wrong file extension' }]);
    const iso = await upload(http, multipart([{ name: 'content', value: 'iso' }, { name: 'filename', filename: 'rootfs.tar.gz', data }]));
    expect(iso.body.errors).toEqual({ filename: 'wrong file extension' });
    const plainTar = await upload(http, multipart([{ name: 'content', value: 'vztmpl' }, { name: 'filename', filename: 'app.tar', data }]));
    expect(plainTar.status).toBe(200);
    const lvm = await upload(http, multipart([{ name: 'content', value: 'vztmpl' }, { name: 'filename', filename: 'a.tar.gz', data }]), { storage: 'local-lvm' });
    expect([lvm.status, lvm.statusText]).toEqual([500, "can't upload to storage type 'lvmthin'"]);
    const notMultipart = await upload(http, Buffer.from('content=vztmpl'), { headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect([notMultipart.status, notMultipart.statusText]).toEqual([506, "upload 'Content-Type 'application/x-www-form-urlencoded' not implemented"]);

    const http84 = await start({ version: '8.4' });
    const tar84 = await upload(http84, multipart([{ name: 'content', value: 'vztmpl' }, { name: 'filename', filename: 'app.tar', data }]));
    expect(tar84.body.errors).toEqual({ filename: 'wrong file extension' });
    const bz2 = await upload(http84, multipart([{ name: 'content', value: 'vztmpl' }, { name: 'filename', filename: 'app.tar.bz2', data }]));
    expect(bz2.status).toBe(200);
  });

  it('creates an application container from an uploaded OCI archive (9.1): entrypoint, env, console mode, host-managed network', async () => {
    const http = await start();
    const archive = await ociArchive({ Entrypoint: ['/usr/bin/app'], Cmd: ['--serve', '8080'], Env: ['PATH=/usr/bin', 'MODE=prod'] });
    const up = await upload(http, multipart([{ name: 'content', value: 'vztmpl' }, { name: 'filename', filename: 'app_1.0.tar', data: archive }]));
    await http.waitTask(up.body.data as string);
    const created = await http.call('POST', '/nodes/pve1/lxc', {
      vmid: 170,
      ostemplate: 'local:vztmpl/app_1.0.tar',
      rootfs: 'local-lvm:1',
      net0: 'name=eth0,bridge=vmbr0',
      entrypoint: '/bin/overridden',
    });
    expect(await http.waitTask(created.body.data as string)).toMatchObject({ exitstatus: 'OK' });
    const config = (await http.call('GET', '/nodes/pve1/lxc/170/config')).body.data as Record<string, unknown>;
    expect(config).toMatchObject({
      entrypoint: '/usr/bin/app "--serve" "8080"',
      env: 'PATH=/usr/bin\0MODE=prod',
      cmode: 'console',
      net0: expect.stringMatching(/^name=eth0,bridge=vmbr0,host-managed=1,hwaddr=[0-9A-F:]{17},type=veth$/) as string,
    });
    const log = await http.call('GET', `/nodes/pve1/tasks/${encodeURIComponent(created.body.data as string)}/log`);
    expect((log.body.data as { t: string }[]).map((l) => l.t)).toContain('Detected OCI archive');
  });

  it('deletes a template volume through a task', async () => {
    const http = await start();
    const up = await upload(http, multipart([{ name: 'content', value: 'vztmpl' }, { name: 'filename', filename: 'gone.tar.gz', data: Buffer.from('x') }]));
    await http.waitTask(up.body.data as string);
    const del = await http.call('DELETE', `/nodes/pve1/storage/local/content/${encodeURIComponent('local:vztmpl/gone.tar.gz')}`, { delay: 5 });
    expect([del.status, del.body.data]).toEqual([200, null]);
    expect(await readdir(cacheDir())).toEqual([]);
    const missing = await http.call('GET', `/nodes/pve1/storage/local/content/local:vztmpl/gone.tar.gz`);
    expect([missing.status, missing.statusText]).toEqual([500, "volume 'local:vztmpl/gone.tar.gz' does not exist"]);
  });
});

describe('PVE simulator upload wire rules over real HTTPS', () => {
  it('streams a large body to disk in chunks and accepts a ticket without CSRF; refuses chunked bodies', async () => {
    const sim = await startPveSimulator({ taskDurationsMs: { default: 5 } });
    const agent = new Agent({ connect: { ca: sim.cert } });
    try {
      const login = await request(`${sim.apiUrl}/access/ticket`, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username: sim.state.credentials.username, password: sim.state.credentials.password }).toString(),
      });
      const { ticket } = ((await login.body.json()) as { data: { ticket: string } }).data;
      const chunk = randomBytes(64 * 1024);
      const count = 96; // 6 MiB
      const head = Buffer.from(
        `--${BOUNDARY}\r\nContent-Disposition: form-data; name="content"\r\n\r\nvztmpl\r\n--${BOUNDARY}\r\nContent-Disposition: form-data; name="filename"; filename="big.tar.gz"\r\nContent-Type: application/gzip\r\n\r\n`,
      );
      const tail = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
      const length = head.length + chunk.length * count + tail.length;
      async function* body(): AsyncGenerator<Buffer> {
        yield head;
        for (let i = 0; i < count; i++) yield chunk;
        yield tail;
      }
      const url = `${sim.apiUrl}/nodes/pve1/storage/local/upload`;
      const headers = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}`, cookie: `PVEAuthCookie=${encodeURIComponent(ticket)}` };
      const res = await request(url, { method: 'POST', dispatcher: agent, body: Readable.from(body()), headers: { ...headers, 'content-length': String(length) } });
      expect(res.statusCode).toBe(200);
      const upid = ((await res.body.json()) as { data: string }).data;
      const task = sim.state.tasks.get(upid);
      await task?.done;
      expect(task?.exitstatus).toBe('OK');
      const file = join(sim.state.storagePath('pve1', 'local'), 'template/cache/big.tar.gz');
      expect((await stat(file)).size).toBe(chunk.length * count);
      const expected = createHash('sha256');
      for (let i = 0; i < count; i++) expected.update(chunk);
      expect(createHash('sha256').update(await readFile(file)).digest('hex')).toBe(expected.digest('hex'));

      const chunked = await request(url, { method: 'POST', dispatcher: agent, body: Readable.from([head, tail]), headers });
      expect([chunked.statusCode, chunked.statusText]).toEqual([501, 'chunked transfer encoding not supported']);
      await chunked.body.dump();
    } finally {
      await agent.close();
      await sim.close();
    }
  });
});
