import { describe, expect, it } from 'vitest';
import { decodeBase32, encodeBase32, totp, verifyTotp } from '../../../src/testing/index.js';

// RFC 6238 appendix B: SHA-1 seed "12345678901234567890"; the 8-digit codes' last 6 digits are the 6-digit codes.
const SEED = encodeBase32(Buffer.from('12345678901234567890'));
const VECTORS: [number, string][] = [
  [59, '94287082'],
  [1111111109, '07081804'],
  [1111111111, '14050471'],
  [1234567890, '89005924'],
  [2000000000, '69279037'],
  [20000000000, '65353130'],
];

describe('totp', () => {
  it('matches the RFC 6238 SHA-1 test vectors', () => {
    for (const [seconds, code] of VECTORS) expect(totp(SEED, seconds * 1000)).toBe(code.slice(2));
  });

  it('round-trips base32 and ignores case, spaces and padding', () => {
    const bytes = Buffer.from('any secret bytes!');
    const text = encodeBase32(bytes);
    expect(decodeBase32(text.toLowerCase().replace(/(.{4})/g, '$1 ') + '===').equals(bytes)).toBe(true);
    expect(() => decodeBase32('ABC1')).toThrow(/invalid base32 character '1'/);
  });

  it('verifies codes within one 30 s step and rejects others', () => {
    const now = 1_700_000_000_000;
    expect(verifyTotp(SEED, totp(SEED, now), now)).toBe(true);
    expect(verifyTotp(SEED, totp(SEED, now - 30_000), now)).toBe(true);
    expect(verifyTotp(SEED, totp(SEED, now + 30_000), now)).toBe(true);
    expect(verifyTotp(SEED, totp(SEED, now - 90_000), now)).toBe(false);
    expect(verifyTotp(SEED, '12345', now)).toBe(false);
  });
});
