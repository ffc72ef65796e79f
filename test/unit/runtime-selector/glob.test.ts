import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkGlob, compileGlob, GlobSyntaxError, MAX_GLOB_ALTERNATIVES } from '../../../src/runtime-selector/glob.js';

const matches = (pattern: string, subject: string): boolean => compileGlob(pattern).test(subject);

describe('compileGlob: matching', () => {
  it.each([
    ['db-*', 'db-main', true],
    ['db-*', 'db-', true],
    ['db-*', 'xdb-main', false],
    ['db-*', 'db-a/b', false],
    ['lxc/*', 'lxc/alpine:3.19', true],
    ['lxc/*', 'lxc/sub/alpine', false],
    ['lxc/**', 'lxc/sub/alpine:1', true],
    ['*/lxc/**', 'docker.io/lxc/alpine', true],
    ['*/lxc/**', 'docker.io/library/lxc', false],
    ['**', '', true],
    ['*', '', true],
    ['a?c', 'abc', true],
    ['a?c', 'a/c', false],
    ['a?c', 'ac', false],
    ['v[0-9]', 'v7', true],
    ['v[0-9]', 'vx', false],
    ['v[!0-9]', 'vx', true],
    ['v[^0-9]', 'v1', false],
    ['v[!0-9]', 'v/', false],
    ['{db,vm}-*', 'vm-ubuntu', true],
    ['{db,vm}-*', 'ct-ubuntu', false],
    ['{a,{b,c}d}', 'cd', true],
    ['{,x}y', 'y', true],
    ['\\*', '*', true],
    ['\\*', 'a', false],
    ['a\\[b', 'a[b', true],
    ['ä*ö', 'äxyzö', true],
    ['?', '😀', true],
    ['x,y', 'x,y', true],
    ['kube-ovn-*', 'kube-ovn-cni', true],
  ])('%s vs %j → %s', (pattern, subject, expected) => {
    expect(matches(pattern, subject)).toBe(expected);
  });

  it('a pattern of escaped literal characters matches exactly that string', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ maxLength: 40 }), (literal, other) => {
        const pattern = Array.from(literal)
          .map((ch) => (/[*?[\]{}\\]/.test(ch) ? `\\${ch}` : ch))
          .join('');
        expect(matches(pattern, literal)).toBe(true);
        if (other !== literal) expect(matches(pattern, other)).toBe(false);
      }),
    );
  });

  it('`prefix*` matches the prefix followed by anything without a slash', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z0-9-]{1,10}$/), fc.string({ maxLength: 30 }), (prefix, rest) => {
        expect(matches(`${prefix}*`, prefix + rest)).toBe(!rest.includes('/'));
        expect(matches(`${prefix}**`, prefix + rest)).toBe(true);
      }),
    );
  });

  it('has no catastrophic backtracking on hostile patterns and long subjects', () => {
    const started = performance.now();
    expect(matches('*a*a*a*a*a*a*a*a*b', 'a'.repeat(20_000))).toBe(false);
    expect(matches('**a**a**a**a**b', 'a'.repeat(20_000))).toBe(false);
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});

describe('compileGlob: invalid patterns are rejected with the reason and the offset', () => {
  it.each([
    ['', 'empty pattern at offset 0'],
    ['lxc/[a-', "unclosed '[' at offset 4"],
    ['[]', "empty character class '[]' at offset 0"],
    ['[z-a]', "reversed range 'z-a' at offset 1"],
    ['{db,vm', "unclosed '{' at offset 0"],
    ['db}', "unmatched '}' (escape it as '\\}') at offset 2"],
    ['a]', "unmatched ']' (escape it as '\\]') at offset 1"],
    ['abc\\', "trailing '\\' escapes nothing at offset 3"],
    ['x'.repeat(1025), 'longer than 1024 characters at offset 1024'],
  ])('%j', (pattern, problem) => {
    expect(checkGlob(pattern)).toBe(problem);
    expect(() => compileGlob(pattern)).toThrow(GlobSyntaxError);
    expect(() => compileGlob(pattern)).toThrow(`invalid glob ${JSON.stringify(pattern)}: ${problem}`);
  });

  it('rejects brace groups that expand to too many alternatives', () => {
    const pattern = '{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b}';
    expect(checkGlob(pattern)).toBe(`expands to more than ${MAX_GLOB_ALTERNATIVES} alternatives at offset 0`);
    expect(checkGlob('{a,b,c,d}{a,b,c,d}{a,b,c,d}{a,b,c,d}')).toBeUndefined();
  });
});
