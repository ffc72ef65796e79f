/** Shared fixtures of the runtime-spec unit tests. */
import { normalizeCreateContainerRequest, normalizePodSandboxConfig } from '../../../../src/cri/normalize.js';
import { InMemoryContainerStore } from '../../../../src/cri/store-memory.js';
import type { NormalizedCreateContainerRequest, SandboxRecord } from '../../../../src/cri/types.js';
import { validateCreateContainerRequest, type RuntimeHandlerFeatures } from '../../../../src/cri/validate.js';
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

/** What tests patch into the minimal request. */
export type RequestPatch = { config?: Json; sandbox_config?: Json; pod_sandbox_id?: string };

/** A CreateContainerRequest (proto JSON, any spelling): `patch` merged over a minimal valid one. */
export function requestInput(patch: RequestPatch = {}): Json {
  const base: Json = {
    pod_sandbox_id: 'sandbox-1',
    config: { metadata: { name: 'app', attempt: 0 }, image: { image: 'docker.io/library/busybox:latest' } },
    sandbox_config: { metadata: { name: 'pod', uid: 'pod-uid', namespace: 'default', attempt: 0 }, hostname: 'pod-host' },
  };
  return merge(base, patch as Json);
}

/** {@link requestInput}, normalised (not validated: spec building's own tests feed it directly). */
export function request(patch: RequestPatch = {}): NormalizedCreateContainerRequest {
  return normalizeCreateContainerRequest(requestInput(patch));
}

/**
 * Validates {@link requestInput} as every caller of the spec builder does first
 * (`validateCreateContainerRequest`), against a ready sandbox holding the request's pod config.
 */
export async function validatedRequest(patch: RequestPatch = {}, features: RuntimeHandlerFeatures = {}): Promise<NormalizedCreateContainerRequest> {
  const input = requestInput(patch);
  const config = normalizePodSandboxConfig(input['sandbox_config']);
  const sandbox: SandboxRecord = { id: String(input['pod_sandbox_id']), metadata: config.metadata, config, state: 'SANDBOX_READY', runtimeHandler: '', namespacePaths: {}, createdAt: 1 };
  return validateCreateContainerRequest(input, { sandbox, containers: new InMemoryContainerStore(), features });
}

/** An image config with the given run config. */
export function image(config: OciImageConfig['config'] = {}): OciImageConfig {
  return { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config };
}

export const BASE_OPTIONS = { containerId: 'c1', userDb: { passwd: PASSWD, group: GROUP }, arch: 'x64' } as const;
