import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAuthChallenges } from '../../../../src/oci/registry/challenge.js';
import { authFileCandidates, credentialsFromAuthFile, findCredentials } from '../../../../src/oci/registry/credentials.js';
import { caught } from '../../../helpers/caught.js';

describe('parseAuthChallenges', () => {
  it('reads a Bearer challenge as registries send it', () => {
    expect(parseAuthChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' } },
    ]);
  });

  it('reads several challenges, token values, escapes and odd spacing', () => {
    expect(parseAuthChallenges('Basic realm="a \\"quoted\\" realm" , Bearer realm=https://t.example/token, error="invalid_token"')).toEqual([
      { scheme: 'basic', params: { realm: 'a "quoted" realm' } },
      { scheme: 'bearer', params: { realm: 'https://t.example/token', error: 'invalid_token' } },
    ]);
    expect(parseAuthChallenges('BASIC REALM="x"')).toEqual([{ scheme: 'basic', params: { realm: 'x' } }]);
  });

  it('returns nothing for a missing or empty header and does not throw on garbage', () => {
    expect(parseAuthChallenges(undefined)).toEqual([]);
    expect(parseAuthChallenges('')).toEqual([]);
    expect(() => parseAuthChallenges('"=,=,"\u0000 Bearer realm="')).not.toThrow();
    expect(parseAuthChallenges('Bearer realm="unterminated')).toEqual([{ scheme: 'bearer', params: { realm: 'unterminated' } }]);
  });
});

describe('registry credentials from auth files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lxcri-auth-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const write = (name: string, value: unknown): string => {
    const file = join(dir, name);
    writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
    return file;
  };

  it('decodes auth, username/password and identity tokens; passwords may contain colons', async () => {
    const file = write('a.json', {
      auths: {
        'registry.example': { auth: b64('alice:pa:ss') },
        'other.example:5000': { username: 'bob', password: 'pw' },
        'token.example': { identitytoken: 'refresh-token-value' },
      },
    });
    expect(await credentialsFromAuthFile(file, 'registry.example')).toEqual({ username: 'alice', password: 'pa:ss' });
    expect(await credentialsFromAuthFile(file, 'other.example:5000')).toEqual({ username: 'bob', password: 'pw' });
    expect(await credentialsFromAuthFile(file, 'token.example')).toEqual({ username: '<token>', password: 'refresh-token-value' });
    expect(await credentialsFromAuthFile(file, 'nowhere.example')).toBeUndefined();
    expect(await credentialsFromAuthFile(join(dir, 'missing.json'), 'registry.example')).toBeUndefined();
  });

  it('matches Docker Hub under any of its names and URL keys, and the longest repository prefix', async () => {
    const file = write('b.json', {
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hub:one') },
        'quay.io': { auth: b64('quay:all') },
        'quay.io/team': { auth: b64('quay:team') },
        'quay.io/team/app': { auth: b64('quay:app') },
      },
    });
    expect(await credentialsFromAuthFile(file, 'docker.io', 'library/busybox')).toEqual({ username: 'hub', password: 'one' });
    expect(await credentialsFromAuthFile(file, 'quay.io', 'team/app')).toEqual({ username: 'quay', password: 'app' });
    expect(await credentialsFromAuthFile(file, 'quay.io', 'team/other')).toEqual({ username: 'quay', password: 'team' });
    expect(await credentialsFromAuthFile(file, 'quay.io', 'teamx/other')).toEqual({ username: 'quay', password: 'all' });
  });

  it('refuses a broken file without showing its content', async () => {
    const broken = write('c.json', '{"auths": {"r.example": {"auth": "c2VjcmV0LXZhbHVl"} ');
    const error = await caught(credentialsFromAuthFile(broken, 'r.example'));
    expect(error).toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'invalid auth file' } });
    expect(error.message).not.toContain('c2VjcmV0LXZhbHVl');
    const noColon = write('d.json', { auths: { 'r.example': { auth: b64('nocolon-secret') } } });
    const second = await caught(credentialsFromAuthFile(noColon, 'r.example'));
    expect(second.message).not.toContain('nocolon-secret');
  });

  it('searches REGISTRY_AUTH_FILE, containers, DOCKER_CONFIG and ~/.docker in that order', async () => {
    const env = { REGISTRY_AUTH_FILE: join(dir, 'first.json'), XDG_RUNTIME_DIR: join(dir, 'run'), HOME: join(dir, 'home'), DOCKER_CONFIG: join(dir, 'docker') };
    expect(authFileCandidates(env)).toEqual([
      join(dir, 'first.json'),
      join(dir, 'run', 'containers', 'auth.json'),
      join(dir, 'home', '.config', 'containers', 'auth.json'),
      join(dir, 'docker', 'config.json'),
      join(dir, 'home', '.docker', 'config.json'),
    ]);
    write('first.json', { auths: { 'a.example': { auth: b64('first:1') } } });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'docker'), { recursive: true });
    writeFileSync(join(dir, 'docker', 'config.json'), JSON.stringify({ auths: { 'a.example': { auth: b64('docker:2') }, 'b.example': { auth: b64('docker:3') } } }));
    expect(await findCredentials('a.example', 'x/y', { env })).toEqual({ username: 'first', password: '1' });
    expect(await findCredentials('b.example', 'x/y', { env })).toEqual({ username: 'docker', password: '3' });
    expect(await findCredentials('b.example', 'x/y', { env, authFile: join(dir, 'first.json') })).toBeUndefined();
  });
});
