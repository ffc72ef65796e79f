import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileContainerStore, FileSandboxStore } from '../../../src/index.js';
import { InMemoryContainerStore, InMemorySandboxStore, normalizeContainerConfig, normalizePodSandboxConfig } from '../../../src/exports/cri.js';
import type { ContainerRecord, ContainerStore, SandboxRecord, SandboxStore } from '../../../src/exports/cri.js';

const root = mkdtempSync(join(tmpdir(), 'lxcri-stores-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `state-${dirs++}`);

const podConfig = normalizePodSandboxConfig({ metadata: { name: 'pod', namespace: 'ns', uid: 'u' } });
const sandboxRecord = (id: string, createdAt = 1): SandboxRecord => ({
  id,
  metadata: podConfig.metadata,
  config: podConfig,
  state: 'SANDBOX_READY',
  runtimeHandler: '',
  namespacePaths: { network: '/run/netns/x' },
  createdAt,
});
const containerRecord = (id: string, name = 'app', sandboxId = 'sb', attempt = 0, createdAt = 1): ContainerRecord => ({
  id,
  sandboxId,
  name,
  attempt,
  config: normalizeContainerConfig({ metadata: { name, attempt }, image: { image: 'busybox' } }),
  state: 'CONTAINER_CREATED',
  runtime: 'crun',
  image: 'busybox',
  imageRef: '',
  createdAt,
  startedAt: 0,
  finishedAt: 0,
  exitCode: 0,
  reason: '',
  message: '',
  runtimeData: { n: 0 },
});

const implementations: { name: string; sandboxes: () => SandboxStore; containers: () => ContainerStore }[] = [
  { name: 'in-memory', sandboxes: () => new InMemorySandboxStore(), containers: () => new InMemoryContainerStore() },
  { name: 'file', sandboxes: () => new FileSandboxStore({ directory: freshDir() }), containers: () => new FileContainerStore({ directory: freshDir() }) },
];

describe.each(implementations)('$name stores', (impl) => {
  it('creates, reads, lists in creation order, updates and deletes sandboxes', async () => {
    const store = impl.sandboxes();
    await store.create(sandboxRecord('b', 2));
    await store.create(sandboxRecord('a', 3));
    await store.create(sandboxRecord('c', 1));
    expect((await store.list()).map((r) => r.id)).toEqual(['c', 'b', 'a']);
    expect(await store.get('a')).toEqual(sandboxRecord('a', 3));
    expect(await store.get('zzz')).toBeUndefined();
    const updated = await store.update('a', (r) => ({ ...r, state: 'SANDBOX_NOTREADY' }));
    expect(updated.state).toBe('SANDBOX_NOTREADY');
    expect((await store.get('a'))?.state).toBe('SANDBOX_NOTREADY');
    expect(await store.delete('a')).toBe(true);
    expect(await store.delete('a')).toBe(false);
    expect(await store.get('a')).toBeUndefined();
  });

  it('rejects a duplicate sandbox id, an unknown update, an id change and an unsafe id', async () => {
    const store = impl.sandboxes();
    await store.create(sandboxRecord('s1'));
    await expect(store.create(sandboxRecord('s1'))).rejects.toMatchObject({ code: 'ERR_ALREADY_EXISTS', grpcStatus: 'AlreadyExists' });
    await expect(store.update('nope', (r) => r)).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(store.update('s1', (r) => ({ ...r, id: 's2' }))).rejects.toMatchObject({ code: 'ERR_STORE' });
    await expect(store.create(sandboxRecord('../escape'))).rejects.toMatchObject({ code: 'ERR_STORE', message: /invalid sandbox id/ });
    await expect(store.get('../../etc/passwd')).rejects.toMatchObject({ code: 'ERR_STORE' });
  });

  it('keeps (sandboxId, name, attempt) unique and reports the holder', async () => {
    const store = impl.containers();
    await store.create(containerRecord('c1', 'web'));
    await store.create(containerRecord('c2', 'web', 'sb', 1));
    await store.create(containerRecord('c3', 'web', 'other-sb'));
    await expect(store.create(containerRecord('c4', 'web'))).rejects.toMatchObject({ code: 'ERR_ALREADY_EXISTS', details: { containerId: 'c1' } });
    await expect(store.create(containerRecord('c1', 'db'))).rejects.toMatchObject({ code: 'ERR_ALREADY_EXISTS', details: { containerId: 'c1' } });
    expect((await store.findByName('sb', 'web', 1))?.id).toBe('c2');
    expect(await store.findByName('sb', 'db', 0)).toBeUndefined();
    expect((await store.list({ sandboxId: 'sb' })).map((r) => r.id).sort()).toEqual(['c1', 'c2']);
    // Deleting frees the name.
    expect(await store.delete('c1')).toBe(true);
    await store.create(containerRecord('c5', 'web'));
    expect((await store.findByName('sb', 'web', 0))?.id).toBe('c5');
    await expect(store.update('c5', (r) => ({ ...r, name: 'renamed' }))).rejects.toMatchObject({ code: 'ERR_STORE' });
  });

  it('filters containers by state', async () => {
    const store = impl.containers();
    await store.create(containerRecord('x1', 'a'));
    await store.create(containerRecord('x2', 'b'));
    await store.update('x2', (r) => ({ ...r, state: 'CONTAINER_RUNNING', startedAt: 5 }));
    expect((await store.list({ state: 'CONTAINER_RUNNING' })).map((r) => r.id)).toEqual(['x2']);
  });

  it('serialises concurrent writers: one of 20 racing creates of a name wins, 50 racing updates all land', async () => {
    const store = impl.containers();
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => store.create(containerRecord(`race-${i}`, 'contended'))));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason.code === 'ERR_ALREADY_EXISTS')).toBe(true);
    const winner = await store.findByName('sb', 'contended', 0);
    expect(winner).toBeDefined();
    await Promise.all(
      Array.from({ length: 50 }, () => store.update(winner?.id ?? '', (r) => ({ ...r, runtimeData: { n: (r.runtimeData['n'] as number) + 1 } }))),
    );
    expect((await store.get(winner?.id ?? ''))?.runtimeData).toEqual({ n: 50 });
  });

  it('never lets a caller change stored state through a returned object', async () => {
    const store = impl.containers();
    const record = containerRecord('iso');
    await store.create(record);
    record.state = 'CONTAINER_EXITED'; // the caller's own object
    const read = await store.get('iso');
    expect(read?.state).toBe('CONTAINER_CREATED');
    try {
      if (read) read.state = 'CONTAINER_EXITED';
    } catch (error) {
      expect(error).toBeInstanceOf(TypeError); // in-memory records are frozen
    }
    expect((await store.get('iso'))?.state).toBe('CONTAINER_CREATED');
  });

  it('throws AbortedError for an aborted signal', async () => {
    const store = impl.sandboxes();
    const signal = AbortSignal.abort(new Error('bye'));
    await expect(store.get('x', { signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    await expect(store.create(sandboxRecord('x'), { signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(await store.get('x')).toBeUndefined();
  });
});

describe('file stores on disk', () => {
  it('writes one 0600 JSON document per record and reads it back from a new instance', async () => {
    const directory = freshDir();
    const store = new FileContainerStore({ directory });
    await store.create(containerRecord('disk-1', 'web'));
    const path = join(directory, 'containers', 'disk-1.json');
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(containerRecord('disk-1', 'web'));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(directory, 'containers')).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(directory, 'containers'))).toEqual(['disk-1.json']); // no temp file left
    const reopened = new FileContainerStore({ directory });
    expect((await reopened.findByName('sb', 'web', 0))?.id).toBe('disk-1');
    await expect(reopened.create(containerRecord('disk-2', 'web'))).rejects.toMatchObject({ code: 'ERR_ALREADY_EXISTS', details: { containerId: 'disk-1' } });
  });

  it('does not create the state directory on reads', async () => {
    const directory = freshDir();
    const store = new FileContainerStore({ directory });
    expect(await store.get('nothing')).toBeUndefined();
    expect(await store.list()).toEqual([]);
    expect(await store.findByName('sb', 'x', 0)).toBeUndefined();
    expect(await store.delete('nothing')).toBe(false);
    expect(() => statSync(directory)).toThrow(/ENOENT/);
    await store.create(containerRecord('first'));
    expect(statSync(join(directory, 'containers')).isDirectory()).toBe(true);
  });

  it('reports a record damaged outside the store with its path', async () => {
    const directory = freshDir();
    const store = new FileSandboxStore({ directory });
    await store.create(sandboxRecord('ok'));
    writeFileSync(join(directory, 'sandboxes', 'broken.json'), '{"id": "broken", "state":');
    await expect(store.get('broken')).rejects.toMatchObject({ code: 'ERR_STORE', message: /broken\.json is not valid JSON/ });
    writeFileSync(join(directory, 'sandboxes', 'other.json'), JSON.stringify(sandboxRecord('not-other')));
    await expect(store.get('other')).rejects.toMatchObject({ code: 'ERR_STORE', message: /does not hold sandbox other/ });
  });

  it('removes a failed write\'s temp file and keeps the old record when beforeRename throws', async () => {
    const directory = freshDir();
    let fail = false;
    const store = new FileSandboxStore({
      directory,
      beforeRename: () => {
        if (fail) throw new Error('disk full (simulated)');
      },
    });
    await store.create(sandboxRecord('keep'));
    fail = true;
    await expect(store.update('keep', (r) => ({ ...r, state: 'SANDBOX_NOTREADY' }))).rejects.toMatchObject({ code: 'ERR_STORE', message: /cannot write sandbox keep/ });
    expect(readdirSync(join(directory, 'sandboxes'))).toEqual(['keep.json']);
    expect((await store.get('keep'))?.state).toBe('SANDBOX_READY');
  });

  it('rejects bad options with InvalidOptionsError naming the field', () => {
    expect(() => new FileSandboxStore({ directory: '' })).toThrow(/directory: directory must not be empty/);
    expect(() => new FileSandboxStore({ directory: '/x', fileMode: 0o1777 })).toThrow(/fileMode/);
    expect(() => new FileContainerStore({ directory: '/x', extra: true } as never)).toThrow(/invalid file store options/);
  });
});
