/** The CRI request the Proxmox LXC runtime tests create CTs from. */
import { normalizeCreateContainerRequest } from '../../../../src/cri/normalize.js';
import type { NormalizedCreateContainerRequest } from '../../../../src/cri/types.js';

/** A normalized CreateContainerRequest for the busybox image. */
export function request(overrides: { config?: Record<string, unknown>; sandbox?: Record<string, unknown>; name?: string } = {}): NormalizedCreateContainerRequest {
  return normalizeCreateContainerRequest({
    podSandboxId: 'sandbox-1',
    config: {
      metadata: { name: overrides.name ?? 'app', attempt: 1 },
      image: { image: 'busybox:latest' },
      command: ['/bin/sh', '-c'],
      args: ['echo "hello from $GREETING"; pwd; echo "IMAGE_VAR=$IMAGE_VAR"'],
      envs: [{ key: 'GREETING', value: 'lxcri' }],
      workingDir: '/work',
      linux: { resources: { cpuQuota: 150000, cpuPeriod: 100000, cpuShares: 512, memoryLimitInBytes: 100 * 1024 * 1024 + 1, memorySwapLimitInBytes: 300 * 1024 * 1024 } },
      ...overrides.config,
    },
    sandboxConfig: {
      metadata: { name: 'web-pod', uid: 'uid-1', namespace: 'default', attempt: 0 },
      hostname: 'Web_Pod.example',
      ...overrides.sandbox,
    },
  });
}

