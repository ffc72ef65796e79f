/**
 * A self-signed TLS certificate generated with node:crypto alone: an ECDSA P-256 key and a v3
 * X.509 certificate (DER written here) for `localhost` and `127.0.0.1`, as a fresh PVE node has
 * its own self-signed `pve-ssl.pem`.
 *
 * @module
 */
import { X509Certificate, generateKeyPairSync, randomBytes, sign } from 'node:crypto';

/** A certificate and its key, PEM encoded, plus the SHA-256 fingerprint clients pin. */
export interface SimulatorCertificate {
  /** The certificate, PEM. */
  cert: string;
  /** The private key, PKCS#8 PEM. */
  key: string;
  /** SHA-256 of the DER certificate as uppercase colon-separated hex (`AA:BB:…`), as PVE shows it. */
  fingerprint256: string;
}

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}
const seq = (...c: Buffer[]): Buffer => tlv(0x30, ...c);
const set = (...c: Buffer[]): Buffer => tlv(0x31, ...c);
function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes: number[] = [40 * (parts[0] ?? 0) + (parts[1] ?? 0)];
  for (const part of parts.slice(2)) {
    const chunk: number[] = [part & 0x7f];
    for (let v = Math.floor(part / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return tlv(0x06, Buffer.from(bytes));
}
function utcTime(date: Date): Buffer {
  const p = (n: number): string => String(n).padStart(2, '0');
  const text = `${p(date.getUTCFullYear() % 100)}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}Z`;
  return tlv(0x17, Buffer.from(text, 'ascii'));
}
function name(commonName: string, org: string): Buffer {
  return seq(
    set(seq(oid('2.5.4.10'), tlv(0x0c, Buffer.from(org, 'utf8')))),
    set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(commonName, 'utf8')))),
  );
}
const extension = (id: string, critical: boolean, value: Buffer): Buffer =>
  seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), tlv(0x04, value));

/**
 * Generates a self-signed certificate valid from one day ago for `days` days.
 * @param commonName - the subject CN (the node name, as PVE uses)
 */
export function generateSelfSignedCertificate(commonName = 'localhost', days = 365): SimulatorCertificate {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const serial = randomBytes(16);
  // DER INTEGER: positive (top bit clear) and minimal (first byte not zero).
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const subject = name(commonName, 'PVE Cluster Node (proxmox-lxcri simulator)');
  const now = Date.now();
  const san = seq(tlv(0x82, Buffer.from('localhost', 'ascii')), tlv(0x87, Buffer.from([127, 0, 0, 1])));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    ecdsaSha256,
    subject,
    seq(utcTime(new Date(now - 86_400_000)), utcTime(new Date(now + days * 86_400_000))),
    subject,
    spki,
    tlv(
      0xa3,
      seq(
        extension('2.5.29.19', true, seq(tlv(0x01, Buffer.from([0xff])))),
        extension('2.5.29.15', true, tlv(0x03, Buffer.from([0x05, 0xa0]))),
        extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))),
        extension('2.5.29.17', false, san),
      ),
    ),
  );
  const signature = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'der' });
  const der = seq(tbs, ecdsaSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])));
  const body = der.toString('base64').replace(/(.{64})/g, '$1\n');
  const cert = `-----BEGIN CERTIFICATE-----\n${body.endsWith('\n') ? body : `${body}\n`}-----END CERTIFICATE-----\n`;
  const x509 = new X509Certificate(cert);
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), fingerprint256: x509.fingerprint256 };
}
