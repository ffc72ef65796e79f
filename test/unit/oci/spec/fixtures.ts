/** Shared fixtures of the runtime-spec unit tests. */
import { normalizeCreateContainerRequest } from '../../../../src/cri/normalize.js';
import type { NormalizedCreateContainerRequest } from '../../../../src/cri/types.js';
import type { OciImageConfig } from '../../../../src/oci/image/types.js';

export const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  'alice:x:1000:1000:Alice:/home/alice:/bin/sh',
  'bob:x:1001:1001::/home/bob:/bin/sh',
  'broken line',
  '',
].join('\n');
export const GROUP = ['root:x:0:', 'staff:x:50:alice,bob', 'video:x:44:alice', 'alice:x:1000:alice', 'bob:x:1001:', 'wheel:x:22222:root', ''].join('\n');

type Json = Record<string, unknown>;

function merge(base: Json, patch: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const b = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? merge(b as Json, v as Json) : v;
  }
  return out;
}

/** A CreateContainerRequest (proto JSON, any spelling) merged over a minimal valid one, normalised. */
export function request(patch: { config?: Json; sandbox_config?: Json; pod_sandbox_id?: string } = {}): NormalizedCreateContainerRequest {
  const base: Json = {
    pod_sandbox_id: 'sandbox-1',
    config: { metadata: { name: 'app', attempt: 0 }, image: { image: 'docker.io/library/busybox:latest' } },
    sandbox_config: { metadata: { name: 'pod', uid: 'pod-uid', namespace: 'default', attempt: 0 }, hostname: 'pod-host' },
  };
  return normalizeCreateContainerRequest(merge(base, patch as Json));
}

/** An image config with the given run config. */
export function image(config: OciImageConfig['config'] = {}): OciImageConfig {
  return { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config };
}

export const BASE_OPTIONS = { containerId: 'c1', userDb: { passwd: PASSWD, group: GROUP }, arch: 'x64' } as const;
