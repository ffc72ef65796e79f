/**
 * Test world for the CRI tests: fixtures in crictl's format, stores with sandboxes and containers
 * in known states, and a request builder.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InMemoryContainerStore, InMemorySandboxStore, normalizeContainerConfig, normalizePodSandboxConfig } from '../../../src/exports/cri.js';
import type { ContainerRecord, ContainerState, NormalizedPodSandboxConfig, SandboxRecord, SandboxState, ValidateContext } from '../../../src/exports/cri.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/cri/', import.meta.url));

/** Parsed JSON of a file in test/fixtures/cri. */
export function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`${FIXTURES}${name}`, 'utf8')) as Record<string, unknown>;
}

export const SB = 'sb1';
export const SB_NOT_READY = 'sb-notready';
export const SB_PRIVILEGED = 'sb-priv';
export const SB_USERNS = 'sb-userns';

/** A userns config used by the userns sandbox (camelCase input form). */
export const USERNS_POD = {
  mode: 'POD',
  uids: [{ hostId: 100000, containerId: 0, length: 65536 }],
  gids: [{ hostId: 100000, containerId: 0, length: 65536 }],
};

function sandbox(id: string, config: NormalizedPodSandboxConfig, state: SandboxState = 'SANDBOX_READY'): SandboxRecord {
  return { id, metadata: config.metadata, config, state, runtimeHandler: '', namespacePaths: { network: `/var/run/netns/${id}` }, createdAt: 1_700_000_000_000 };
}

function container(id: string, sandboxId: string, name: string, state: ContainerState): ContainerRecord {
  const config = normalizeContainerConfig({ metadata: { name }, image: { image: 'busybox' } });
  return {
    id,
    sandboxId,
    name,
    attempt: 0,
    config,
    state,
    runtime: 'crun',
    image: 'busybox',
    imageRef: '',
    createdAt: 1_700_000_000_001,
    startedAt: state === 'CONTAINER_RUNNING' ? 1_700_000_000_002 : 0,
    finishedAt: 0,
    exitCode: 0,
    reason: '',
    message: '',
    runtimeData: {},
  };
}

/** The pod config of sandbox SB, as camelCase input. */
export function podConfigInput(): Record<string, unknown> {
  return { metadata: { name: 'nginx-sandbox', namespace: 'default', attempt: 1, uid: 'hdishd83djaidwnduwk28bcsb' }, logDirectory: '/tmp', linux: {} };
}

/** Stores with sandboxes and containers in every state the tests need. */
export function makeWorld(): ValidateContext & { sandboxes: InMemorySandboxStore; containers: InMemoryContainerStore } {
  const pod = normalizePodSandboxConfig(fixture('pod-config.json'));
  const privileged = normalizePodSandboxConfig(fixture('pod-config-hostnet.json'));
  const userns = normalizePodSandboxConfig({
    metadata: { name: 'userns-pod', namespace: 'default', uid: 'u-1' },
    linux: { securityContext: { namespaceOptions: { usernsOptions: USERNS_POD } } },
  });
  const sandboxes = new InMemorySandboxStore([
    sandbox(SB, pod),
    sandbox(SB_NOT_READY, pod, 'SANDBOX_NOTREADY'),
    sandbox(SB_PRIVILEGED, privileged),
    sandbox(SB_USERNS, userns),
  ]);
  const containers = new InMemoryContainerStore([
    container('c-running', SB, 'taken', 'CONTAINER_RUNNING'),
    container('c-created', SB, 'created', 'CONTAINER_CREATED'),
    container('c-other', SB_PRIVILEGED, 'other', 'CONTAINER_RUNNING'),
  ]);
  return { sandboxes, containers };
}

/** A minimal valid request for sandbox SB in camelCase proto3 JSON. */
export function baseRequest(): { podSandboxId: string; config: Record<string, unknown> & { linux: Record<string, unknown> }; sandboxConfig: Record<string, unknown> } {
  return {
    podSandboxId: SB,
    config: { metadata: { name: 'app' }, image: { image: 'busybox' }, command: ['top'], linux: {} },
    sandboxConfig: podConfigInput(),
  };
}
