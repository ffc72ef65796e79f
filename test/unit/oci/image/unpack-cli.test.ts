import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../../src/cli/main.js';
import { packTar, writeImageLayout } from '../../../helpers/oci-fixtures.js';
import { captureIo as captureIoAt, type CapturedIo } from '../../../helpers/cli-io.js';

const io = (cwd: string): CapturedIo => captureIoAt(cwd);

let work: string;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'lxcri-cli-unpack-'));
  writeImageLayout(join(work, 'img'), [{ tar: await packTar([{ name: 'hello', content: 'hi' }]) }], { ref: 'v1' });
  writeImageLayout(join(work, 'named'), [{ tar: await packTar([{ name: 'hello', content: 'named' }]) }], { ref: 'docker.io/library/hello:1.0' });
  writeImageLayout(join(work, 'a:b'), [{ tar: await packTar([{ name: 'hello', content: 'colon' }]) }], { ref: 'v2' });
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('lxcri unpack', () => {
  it('unpacks DIR:REF relative to the working directory and prints a JSON summary', async () => {
    const cli = io(work);
    expect(await main(['unpack', '--image', 'img:v1', 'out', '--rootless'], cli)).toBe(0);
    const summary = JSON.parse(cli.out()) as { rootfs: string; reference: string; layers: number; entries: number };
    expect(summary).toMatchObject({ rootfs: join(work, 'out', 'rootfs'), reference: 'v1', layers: 1, entries: 1 });
    expect(readFileSync(join(work, 'out', 'rootfs', 'hello'), 'utf8')).toBe('hi');
  });

  it('splits DIR:REF at the colon after the layout, so references may hold colons and slashes', async () => {
    const named = io(work);
    expect(await main(['unpack', '--image', 'named:docker.io/library/hello:1.0', 'out-named', '--rootless'], named)).toBe(0);
    expect(JSON.parse(named.out())).toMatchObject({ reference: 'docker.io/library/hello:1.0' });
    expect(readFileSync(join(work, 'out-named', 'rootfs', 'hello'), 'utf8')).toBe('named');
    const colon = io(work);
    expect(await main(['unpack', '--image', 'a:b:v2', 'out-colon', '--rootless'], colon)).toBe(0);
    expect(readFileSync(join(work, 'out-colon', 'rootfs', 'hello'), 'utf8')).toBe('colon');
    const whole = io(work);
    expect(await main(['unpack', '--image', join(work, 'a:b'), 'out-whole', '--rootless'], whole)).toBe(0);
    expect(readFileSync(join(work, 'out-whole', 'rootfs', 'hello'), 'utf8')).toBe('colon');
  });

  it('exits 2 on usage errors and 1 on a missing image, with a JSON error', async () => {
    const a = io(work);
    expect(await main(['unpack', 'out2'], a)).toBe(2);
    expect(a.err()).toContain('--image');
    const b = io(work);
    expect(await main(['unpack', '--image', 'img:v1'], b)).toBe(2);
    const c = io(work);
    expect(await main(['unpack', '--image', 'img:nope', 'out3'], c)).toBe(1);
    expect(JSON.parse(c.out())).toMatchObject({ error: { code: 'ERR_NOT_FOUND' } });
    const d = io(work);
    expect(await main(['unpack', '--image', 'no-such-dir', 'out4'], d)).toBe(1);
    expect(JSON.parse(d.out())).toMatchObject({ error: { code: 'ERR_IMAGE' } });
    const e = io(work);
    expect(await main(['unpack', '--help'], e)).toBe(0);
    expect(e.out()).toContain('umoci unpack');
  });
});
