/**
 * Test registries on loopback:
 * - {@link startDistribution}: Debian's `docker-registry` (distribution 2.8) over TLS with a CA made
 *   here, anonymous, with htpasswd Basic auth, or with Bearer tokens from {@link startTokenServer};
 * - {@link startTokenServer}: a small token service (ES256 JWTs, the `kid` distribution expects);
 * - helpers to make the CA and certificates (openssl) and to push with skopeo.
 * Only 127.0.0.1 / localhost are ever used.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { until } from '../../../helpers/wait.js';

const run = promisify(execFile);

/** A free TCP port on 127.0.0.1 (the socket is closed again before use). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A CA and a server certificate for 127.0.0.1 and localhost, in `dir`. */
export interface TestPki {
  caCert: string;
  caPem: string;
  serverCert: string;
  serverKey: string;
  /** A folder with `ca.crt`, for skopeo's `--dest-cert-dir` / `--src-cert-dir`. */
  certDir: string;
}

/** Makes the CA and the server certificate with openssl. */
export async function makePki(dir: string): Promise<TestPki> {
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  const serverKey = join(dir, 'server.key');
  const serverCsr = join(dir, 'server.csr');
  const serverCert = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caCert, '-days', '2', '-subj', '/CN=lxcri test CA']);
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', serverKey, '-out', serverCsr, '-subj', '/CN=localhost']);
  writeFileSync(ext, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['x509', '-req', '-in', serverCsr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-out', serverCert, '-days', '2', '-extfile', ext]);
  const certDir = join(dir, 'certs.d');
  await run('mkdir', ['-p', certDir]);
  writeFileSync(join(certDir, 'ca.crt'), readFileSync(caCert));
  return { caCert, caPem: readFileSync(caCert, 'utf8'), serverCert, serverKey, certDir };
}

/** The key id docker/libtrust derives from a public key: base32 of 240 bits of SHA-256 of its DER, in 12 groups of 4. */
export function libtrustKeyId(publicKeyDer: Buffer): string {
  const hash = createHash('sha256').update(publicKeyDer).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of hash) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return (out.match(/.{4}/g) ?? []).join(':');
}

/** A running token service. */
export interface TokenServer {
  realm: string;
  service: string;
  issuer: string;
  /** PEM certificate of the signing key (the registry's `rootcertbundle`). */
  certFile: string;
  /** Every token request: the scope asked for and the user (or undefined when anonymous). */
  requests: { scope: string | null; user: string | undefined }[];
  close(): Promise<void>;
}

/**
 * Starts a token service over HTTPS. Users in `users` get push+pull; anonymous callers get pull
 * only when `anonymousPull` is set, else 401. Tokens live `expiresIn` seconds.
 */
export async function startTokenServer(dir: string, pki: TestPki, options: { users: Record<string, string>; anonymousPull?: boolean; expiresIn?: number }): Promise<TokenServer> {
  const key = join(dir, 'token.key');
  const certFile = join(dir, 'token.crt');
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', certFile, '-days', '2', '-subj', '/CN=lxcri test token signer']);
  const privateKey = createPrivateKey(readFileSync(key));
  const kid = libtrustKeyId(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }));
  const service = 'lxcri-test-registry';
  const issuer = 'lxcri-test-issuer';
  const requests: TokenServer['requests'] = [];
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const server = createHttpsServer({ cert: readFileSync(pki.serverCert), key: readFileSync(pki.serverKey) }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const scope = url.searchParams.get('scope');
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [u, ...p] = Buffer.from(auth.slice(6), 'base64').toString('utf8').split(':');
      if (u === undefined || options.users[u] !== p.join(':')) {
        requests.push({ scope, user: u });
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] }));
        return;
      }
      user = u;
    }
    requests.push({ scope, user });
    if (user === undefined && !options.anonymousPull) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="token"' }).end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'credentials required' }] }));
      return;
    }
    const access: { type: string; name: string; actions: string[] }[] = [];
    for (const s of url.searchParams.getAll('scope')) {
      const [type, ...rest] = s.split(':');
      const actions = (rest.pop() ?? '').split(',');
      const name = rest.join(':');
      access.push({ type: type ?? '', name, actions: actions.filter((a) => a === 'pull' || (user !== undefined && a === 'push')) });
    }
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = options.expiresIn ?? 300;
    const header = b64({ typ: 'JWT', alg: 'ES256', kid });
    const claims = b64({ iss: issuer, sub: user ?? '', aud: service, exp: now + expiresIn, nbf: now - 10, iat: now, jti: `${now}-${requests.length}`, access });
    const signature = sign('sha256', Buffer.from(`${header}.${claims}`), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: `${header}.${claims}.${signature}`, expires_in: expiresIn, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    realm: `https://127.0.0.1:${port}/token`,
    service,
    issuer,
    certFile,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** A running docker-registry. */
export interface Distribution {
  /** `127.0.0.1:PORT`, the reference domain. */
  host: string;
  storage: string;
  close(): Promise<void>;
}

/** Starts docker-registry over TLS; `auth` selects anonymous, htpasswd Basic or token auth. */
export async function startDistribution(
  dir: string,
  pki: TestPki,
  auth: { kind: 'none' } | { kind: 'htpasswd'; users: Record<string, string> } | { kind: 'token'; server: TokenServer },
): Promise<Distribution> {
  const port = await freePort();
  const storage = join(dir, 'storage');
  let authYaml = '';
  if (auth.kind === 'htpasswd') {
    const file = join(dir, 'htpasswd');
    writeFileSync(file, '');
    for (const [user, password] of Object.entries(auth.users)) await run('htpasswd', ['-bB', file, user, password]);
    authYaml = `auth:\n  htpasswd:\n    realm: lxcri-test\n    path: ${file}\n`;
  } else if (auth.kind === 'token') {
    authYaml = `auth:\n  token:\n    realm: ${auth.server.realm}\n    service: ${auth.server.service}\n    issuer: ${auth.server.issuer}\n    rootcertbundle: ${auth.server.certFile}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${storage}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n  tls:\n    certificate: ${pki.serverCert}\n    key: ${pki.serverKey}\n${authYaml}`,
  );
  const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await until(
    async () => {
      if (child.exitCode !== null) throw new Error(`docker-registry exited: ${stderr}`);
      return probeTls(port, pki.caPem);
    },
    `docker-registry to answer on ${port}`,
    { timeoutMs: 20_000, intervalMs: 50 },
  ).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`docker-registry did not start on ${port}: ${stderr}`, { cause: error });
  });
  return {
    host: `127.0.0.1:${port}`,
    storage,
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

async function probeTls(port: number, ca: string): Promise<boolean> {
  const agent = new Agent({ connect: { ca } });
  try {
    const response = await request(`https://127.0.0.1:${port}/v2/`, { dispatcher: agent, headersTimeout: 2000 });
    await response.body.dump();
    return true;
  } catch {
    return false;
  } finally {
    await agent.close();
  }
}

/** `skopeo copy` with the test CA (and credentials) on the registry side. */
export async function skopeoCopy(from: string, to: string, options: { pki: TestPki; creds?: string; all?: boolean; srcCreds?: string; format?: 'oci' | 'v2s2' }): Promise<void> {
  const args = ['copy', '--quiet'];
  if (options.all) args.push('--all');
  if (options.format) args.push('--format', options.format);
  if (to.startsWith('docker://')) args.push('--dest-cert-dir', options.pki.certDir, ...(options.creds ? ['--dest-creds', options.creds] : []));
  if (from.startsWith('docker://')) args.push('--src-cert-dir', options.pki.certDir, ...(options.srcCreds ? ['--src-creds', options.srcCreds] : []));
  await run('skopeo', [...args, from, to], { env: { ...process.env, HOME: join(options.pki.certDir, '..') } });
}
