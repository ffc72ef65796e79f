/**
 * The OCI runtime's `--version` runs once per instance for set-up and first probe: the runtime
 * decision of the first create is made from the set-up's answer. A pretend runtime (a shell script)
 * logs every invocation, so the test counts the processes that ran.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lxcri } from '../../../src/lxcri/lxcri.js';
import { buildDemoImage, type DemoImage } from '../../../src/testing/index.js';
import { missing } from '../../helpers/requirements.js';

let work: string;
let image: DemoImage;
let runtime: string;
let calls: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-oci-probe-'));
  image = await buildDemoImage(join(work, 'image'));
  runtime = join(work, 'fake-crun');
  calls = join(work, 'calls.log');
  await writeFile(
    runtime,
    [
      '#!/bin/sh',
      `echo "$*" >> "${calls}"`,
      'pidfile=""; cmd=""',
      'while [ $# -gt 0 ]; do',
      '  case "$1" in',
      '    --version) echo "crun version 9.9.9"; exit 0 ;;',
      '    features) exit 1 ;;',
      '    create|delete|state) cmd="$1" ;;',
      '    --pid-file) pidfile="$2"; shift ;;',
      '  esac',
      '  shift',
      'done',
      'case "$cmd" in',
      `  create) sleep 30 & echo $! > "$pidfile"; echo $! > "${work}/init.pid" ;;`,
      `  delete) kill "$(cat "${work}/init.pid")" ;;`,
      '  *) exit 1 ;;',
      'esac',
      '',
    ].join('\n'),
  );
  await chmod(runtime, 0o755);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.skipIf(missing({ tools: ['perl'] }))('Lxcri OCI runtime probe', () => {
  it('decides the first create from the set-up’s --version answer: one --version process, not two', async () => {
    const lxcri = new Lxcri({ stateDir: join(work, 'state'), images: image.layout, hostChecks: false, oci: { runtime, rootfsMode: 'copy', podNamespaces: false } });
    try {
      const pod = { metadata: { name: 'p', uid: 'u', namespace: 'default' } };
      const { podSandboxId } = await lxcri.runPodSandbox(pod);
      const made = await lxcri.createContainer({ podSandboxId, config: { metadata: { name: 'c' }, image: { image: image.reference }, command: ['true'] }, sandboxConfig: pod });
      expect(made.runtime).toBe('crun');
      const log = (await readFile(calls, 'utf8')).trim().split('\n');
      expect(log.filter((l) => l === '--version')).toHaveLength(1);
      expect(log.some((l) => l.includes(' create '))).toBe(true);
      expect(JSON.stringify(made.decision.trace)).toContain(`${runtime} --version answered \\"crun version 9.9.9\\"`);
      await lxcri.removePodSandbox(podSandboxId);
    } finally {
      await lxcri.close();
    }
  });
});
