import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortedError, InvalidOptionsError, type RuntimePolicy } from '../../../src/index.js';
import { DEFAULT_RUNTIME_HANDLERS, loadRuntimePolicy, parseRuntimePolicy } from '../../../src/exports/runtime-selector.js';

function issuesOf(input: unknown): { path: string; message: string }[] {
  try {
    parseRuntimePolicy(input);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidOptionsError);
    return (error as InvalidOptionsError).details['issues'] as { path: string; message: string }[];
  }
  throw new Error('expected the policy to be rejected');
}

describe('parseRuntimePolicy', () => {
  it('fills every default for an empty policy', () => {
    expect(parseRuntimePolicy({})).toEqual({
      defaultRuntime: 'crun',
      handlers: { ...DEFAULT_RUNTIME_HANDLERS },
      annotationKey: 'lxcri.io/runtime',
      rules: [],
      privileged: 'any',
      fallback: { onUnavailable: false, onUnsupported: false, overrideExplicit: false },
    });
  });

  it('turns single globs into lists and keeps the rule order', () => {
    const policy: RuntimePolicy = {
      rules: [
        { name: 'one', match: { image: 'lxc/**' }, runtime: 'proxmox-lxc' },
        { match: { containerName: ['db-*', 'vm-*'], labels: { tier: 'db' } }, runtime: 'proxmox-lxc' },
      ],
    };
    const resolved = parseRuntimePolicy(policy);
    expect(resolved.rules).toEqual([
      { name: 'one', match: { image: ['lxc/**'] }, runtime: 'proxmox-lxc' },
      { match: { containerName: ['db-*', 'vm-*'], labels: { tier: ['db'] } }, runtime: 'proxmox-lxc' },
    ]);
    // parsing a resolved policy again gives the same policy
    expect(parseRuntimePolicy(resolved)).toEqual(resolved);
  });

  it('replaces the handler map instead of merging it', () => {
    expect(parseRuntimePolicy({ handlers: { 'proxmox-lxcri': 'proxmox-lxc' } }).handlers).toEqual({ 'proxmox-lxcri': 'proxmox-lxc' });
  });

  it('rejects unknown keys at every level, naming the key and its path', () => {
    expect(issuesOf({ defaultRuntim: 'crun' })).toEqual([{ path: 'defaultRuntim', message: 'unknown key "defaultRuntim"' }]);
    expect(issuesOf({ fallback: { onUnavailable: true, always: true } })).toEqual([{ path: 'fallback.always', message: 'unknown key "always"' }]);
    expect(issuesOf({ rules: [{ match: { image: 'x', tag: 'y' }, runtime: 'crun' }] })).toEqual([
      { path: 'rules[0].match.tag', message: 'unknown key "tag"' },
    ]);
    expect(issuesOf({ rules: [{ match: { image: 'x' }, runtime: 'crun', priority: 1 }] })).toEqual([
      { path: 'rules[0].priority', message: 'unknown key "priority"' },
    ]);
  });

  it('rejects invalid globs, naming the rule field, the glob and the problem', () => {
    expect(issuesOf({ rules: [{ match: { image: 'lxc/[a-' }, runtime: 'proxmox-lxc' }] })).toEqual([
      { path: 'rules[0].match.image', message: `invalid glob "lxc/[a-": unclosed '[' at offset 4` },
    ]);
    expect(issuesOf({ rules: [{ match: { image: 'x' }, runtime: 'crun' }, { match: { containerName: ['ok-*', 'db-}'] }, runtime: 'crun' }] })).toEqual([
      { path: 'rules[1].match.containerName[1]', message: `invalid glob "db-}": unmatched '}' (escape it as '\\}') at offset 3` },
    ]);
    expect(issuesOf({ rules: [{ match: { labels: { 'app.kubernetes.io/name': '{db' } }, runtime: 'crun' }] })).toEqual([
      { path: 'rules[0].match.labels["app.kubernetes.io/name"]', message: `invalid glob "{db": unclosed '{' at offset 0` },
    ]);
    expect(issuesOf({ rules: [{ match: { podNamespace: '' }, runtime: 'crun' }] })).toEqual([
      { path: 'rules[0].match.podNamespace', message: 'invalid glob "": empty pattern at offset 0' },
    ]);
    expect(issuesOf({ rules: [{ match: { image: [] }, runtime: 'crun' }] })[0]?.path).toBe('rules[0].match.image');
  });

  it('rejects unknown runtimes, bad handler names, bad annotation keys and empty rules', () => {
    expect(issuesOf({ defaultRuntime: 'lxc' })).toEqual([{ path: 'defaultRuntime', message: 'must be one of "crun", "proxmox-lxc"' }]);
    expect(issuesOf({ handlers: { Runc_1: 'crun' } })).toEqual([
      { path: 'handlers.Runc_1', message: 'invalid key: a runtime handler name is a DNS label: lower-case letters, digits and "-", starting and ending alphanumeric' },
    ]);
    expect(issuesOf({ handlers: { runc: 'runc' } })).toEqual([{ path: 'handlers.runc', message: 'must be one of "crun", "proxmox-lxc"' }]);
    expect(issuesOf({ annotationKey: 'not a key' })[0]?.path).toBe('annotationKey');
    expect(issuesOf({ privileged: 'yes' })).toEqual([{ path: 'privileged', message: 'must be one of "any", "crun", "proxmox-lxc", "reject"' }]);
    expect(issuesOf({ rules: [{ match: {}, runtime: 'crun' }] })).toEqual([
      {
        path: 'rules[0].match',
        message: 'a rule needs at least one criterion (image, containerName, podName, podNamespace, labels, annotations); use defaultRuntime for a catch-all',
      },
    ]);
    expect(issuesOf({ rules: [{ runtime: 'crun' }] })).toEqual([{ path: 'rules[0].match', message: 'is required' }]);
  });

  it('rejects "__proto__" keys instead of letting a rule criterion vanish, and label keys that are not Kubernetes keys', () => {
    expect(issuesOf(JSON.parse('{"rules":[{"match":{"labels":{"__proto__":"db"}},"runtime":"proxmox-lxc"}]}'))).toEqual([
      { path: 'rules[0].match.labels.__proto__', message: 'the key "__proto__" is not allowed' },
    ]);
    expect(issuesOf(JSON.parse('{"handlers":{"__proto__":"crun"}}'))).toEqual([{ path: 'handlers.__proto__', message: 'the key "__proto__" is not allowed' }]);
    expect(issuesOf({ rules: [{ match: { annotations: { 'bad key': '*' } }, runtime: 'crun' }] })).toEqual([
      {
        path: 'rules[0].match.annotations["bad key"]',
        message: 'invalid key: must be a Kubernetes label or annotation key (optional DNS prefix and "/", then a name of at most 63 characters)',
      },
    ]);
  });

  it('lists every problem and summarises them in the message', () => {
    try {
      parseRuntimePolicy({ defaultRuntime: 'x', extra: 1, rules: [{ match: { image: '[' }, runtime: 'crun' }] }, 'policy.json');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidOptionsError);
      const e = error as InvalidOptionsError;
      expect(e.code).toBe('ERR_INVALID_OPTIONS');
      expect(e.message).toMatch(/^invalid policy\.json: .+ \(and 2 more issues\)$/);
      expect((e.details['issues'] as unknown[]).length).toBe(3);
    }
  });
});

describe('loadRuntimePolicy', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lxcri-policy-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the example policies shipped in examples/policies', async () => {
    const upstream = await loadRuntimePolicy(resolve('examples/policies/upstream-defaults.json'));
    expect(upstream.defaultRuntime).toBe('crun');
    expect(upstream.rules.map((r) => r.name)).toEqual(['images-under-lxc', 'db-and-vm-containers']);
    const lxcFirst = await loadRuntimePolicy(resolve('examples/policies/lxc-by-default.json'));
    expect(lxcFirst.defaultRuntime).toBe('proxmox-lxc');
    expect(lxcFirst.fallback).toEqual({ onUnavailable: false, onUnsupported: true, overrideExplicit: false });
  });

  it('names the file when it is missing, not JSON, or invalid', async () => {
    await expect(loadRuntimePolicy(join(dir, 'nope.json'))).rejects.toThrow(`cannot read runtime policy ${join(dir, 'nope.json')}: ENOENT`);
    await writeFile(join(dir, 'broken.json'), '{ "rules": [');
    await expect(loadRuntimePolicy(join(dir, 'broken.json'))).rejects.toThrow(/runtime policy .*broken\.json is not valid JSON/);
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ rules: [{ match: { image: 'lxc/[' }, runtime: 'proxmox-lxc' }] }));
    const error = await loadRuntimePolicy(join(dir, 'bad.json')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidOptionsError);
    expect((error as Error).message).toBe(`invalid runtime policy ${join(dir, 'bad.json')}: rules[0].match.image: invalid glob "lxc/[": unclosed '[' at offset 4`);
  });

  it('honours an aborted signal', async () => {
    await writeFile(join(dir, 'ok.json'), '{}');
    await expect(loadRuntimePolicy(join(dir, 'ok.json'), { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(AbortedError);
  });
});
