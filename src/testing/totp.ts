/**
 * RFC 6238 TOTP (HMAC-SHA1, 30 s steps, 6 digits) over a base32 secret, written on node:crypto.
 * The simulator checks second factors with it; tests use {@link totp} to compute the code a user
 * would type.
 *
 * @module
 */
import { createHmac } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * Decodes an RFC 4648 base32 string (case-insensitive; spaces and `=` padding ignored).
 * @throws TypeError when the text holds a character outside the base32 alphabet.
 */
export function decodeBase32(text: string): Buffer {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const index = BASE32.indexOf(ch);
    if (index < 0) throw new TypeError(`invalid base32 character '${ch}'`);
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((value >>> bits) & 0xff);
    }
  }
  return Buffer.from(out);
}

/** Encodes bytes as unpadded RFC 4648 base32. */
export function encodeBase32(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += BASE32[(value >>> bits) & 31];
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

function hotp(key: Buffer, counter: number): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(BigInt(counter));
  const digest = createHmac('sha1', key).update(message).digest();
  const offset = (digest[digest.length - 1] ?? 0) & 0x0f;
  const binary = digest.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 1_000_000).padStart(6, '0');
}

/**
 * The 6-digit TOTP code for a base32 `secret` at `time` (a Date or milliseconds since the epoch),
 * as an authenticator app shows it (RFC 6238: HMAC-SHA1, 30 s period, T0 = 0).
 */
export function totp(secret: string, time: Date | number = Date.now()): string {
  const ms = typeof time === 'number' ? time : time.getTime();
  return hotp(decodeBase32(secret), Math.floor(ms / 1000 / 30));
}

/**
 * True when `code` is the TOTP code for `secret` at `time` or one step (30 s) either side, the
 * clock-skew window PVE allows.
 */
export function verifyTotp(secret: string, code: string, time: number): boolean {
  if (!/^\d{6}$/.test(code)) return false;
  const key = decodeBase32(secret);
  const step = Math.floor(time / 1000 / 30);
  for (const delta of [0, -1, 1]) if (hotp(key, step + delta) === code) return true;
  return false;
}
