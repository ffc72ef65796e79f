import { describe, expect, it } from 'vitest';
import { computeChainIds, isDigest, parseDigest, parseImageReference, sha256Digest } from '../../../../src/exports/oci.js';

describe('parseImageReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['user/app:v2', 'docker.io/user/app:v2'],
    ['quay.io/org/app', 'quay.io/org/app:latest'],
    ['localhost:5000/app:dev', 'localhost:5000/app:dev'],
    ['localhost/app', 'localhost/app:latest'],
    ['registry.example.com:443/a/b/c:1.0-rc.1', 'registry.example.com:443/a/b/c:1.0-rc.1'],
    [`ghcr.io/o/r@sha256:${'a'.repeat(64)}`, `ghcr.io/o/r@sha256:${'a'.repeat(64)}`],
    [`alpine:3@sha256:${'b'.repeat(64)}`, `docker.io/library/alpine:3@sha256:${'b'.repeat(64)}`],
  ])('normalises %s', (input, normalized) => {
    expect(parseImageReference(input).normalized).toBe(normalized);
  });

  it('splits the parts', () => {
    expect(parseImageReference('localhost:5000/team/app:7')).toEqual({
      domain: 'localhost:5000',
      path: 'team/app',
      name: 'localhost:5000/team/app',
      tag: '7',
      normalized: 'localhost:5000/team/app:7',
    });
  });

  it.each(['', 'upper/CASE', 'app:', 'app:-bad', 'a//b', 'app@sha256:xyz', `app@md5:${'a'.repeat(32)}`, 'x'.repeat(5000), 'bad domain/app', 'app:' + 't'.repeat(200)])('rejects %j with ERR_IMAGE', (input) => {
    expect(() => parseImageReference(input)).toThrow(expect.objectContaining({ code: 'ERR_IMAGE' }) as Error);
  });
});

describe('digests', () => {
  it('accepts only well-formed sha256/sha512 digests', () => {
    expect(parseDigest(`sha256:${'0'.repeat(64)}`)).toEqual({ algorithm: 'sha256', encoded: '0'.repeat(64), digest: `sha256:${'0'.repeat(64)}` });
    expect(isDigest(`sha512:${'f'.repeat(128)}`)).toBe(true);
    for (const bad of [`sha256:${'A'.repeat(64)}`, `sha256:${'0'.repeat(63)}`, 'sha256:../../etc/passwd', `sha256/${'0'.repeat(64)}`, `SHA256:${'0'.repeat(64)}`, `blake3:${'0'.repeat(64)}`, 42, null]) {
      expect(isDigest(bad)).toBe(false);
    }
    expect(() => parseDigest('sha256:../x', 'manifest layers[0].digest')).toThrow(/manifest layers\[0\]\.digest/);
  });

  it('computes ChainIDs as in the image-spec', () => {
    const d = [sha256Digest('a'), sha256Digest('b'), sha256Digest('c')];
    const chain = computeChainIds(d);
    expect(chain[0]).toBe(d[0]);
    expect(chain[1]).toBe(sha256Digest(`${d[0]} ${d[1]}`));
    expect(chain[2]).toBe(sha256Digest(`${chain[1]} ${d[2]}`));
  });
});
