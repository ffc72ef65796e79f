/**
 * `createContainer()`: the one call that takes a CRI CreateContainerRequest and leaves a created
 * container, under crun/runc on this node or as a Proxmox VE LXC container.
 *
 * @module
 */
import { Lxcri, type CreateContainerResult, type LxcriCallOptions } from './lxcri/lxcri.js';
import type { LxcriOptions } from './lxcri/options.js';

/** Options of {@link createContainer}: an existing {@link Lxcri}, or the options to make one. */
export type CreateContainerOptions = LxcriCallOptions &
  (
    | { /** The instance to create with (it stays open). */ lxcri: Lxcri }
    | (LxcriOptions & { lxcri?: undefined })
  );

/** The result of {@link createContainer}: the created container, and the pod when this call ran one. */
export interface OneShotCreateResult extends CreateContainerResult {
  /** The pod sandbox the container is in. */
  podSandboxId: string;
  /** True when this call ran the pod sandbox first (the request had no `podSandboxId`). */
  podCreated: boolean;
}

function podSandboxIdOf(request: unknown): string {
  if (typeof request !== 'object' || request === null) return '';
  const r = request as Record<string, unknown>;
  const id = r['podSandboxId'] ?? r['pod_sandbox_id'];
  return typeof id === 'string' ? id : '';
}

/**
 * Creates one container: validate → select → resolve the image → reserve the name → prepare →
 * create → record (see {@link Lxcri.createContainer}), over `options.lxcri` or a new `Lxcri` made
 * from `options` and closed afterwards.
 *
 * A request without `podSandboxId` runs its `sandboxConfig` as a new pod first (as `crictl run`
 * does); if the create then fails, that pod is removed again.
 *
 * @example
 * ```ts
 * import { createContainer } from 'proxmox-lxcri';
 * const result = await createContainer(
 *   { config: { metadata: { name: 'hello' }, image: { image: 'busybox:latest' }, command: ['echo', 'hi'] },
 *     sandboxConfig: { metadata: { name: 'pod', uid: 'u1', namespace: 'default' } } },
 *   { stateDir: '/var/lib/lxcri', images: '/srv/oci/busybox' },
 * );
 * const { containerId, runtime, decision, timings } = result; // decision.reason says why
 * ```
 */
export async function createContainer(request: unknown, options: CreateContainerOptions): Promise<OneShotCreateResult> {
  const { signal, onProgress, lxcri: given, ...lxcriOptions } = options as LxcriCallOptions & LxcriOptions & { lxcri?: Lxcri };
  const lxcri = given ?? new Lxcri(lxcriOptions);
  const call = { ...(signal ? { signal } : {}), ...(onProgress ? { onProgress } : {}) };
  try {
    let podSandboxId = podSandboxIdOf(request);
    let podCreated = false;
    if (podSandboxId === '' && typeof request === 'object' && request !== null) {
      const r = request as Record<string, unknown>;
      const pod = await lxcri.runPodSandbox(r['sandboxConfig'] ?? r['sandbox_config'] ?? {}, call);
      podSandboxId = pod.podSandboxId;
      podCreated = true;
      request = { ...r, ...('pod_sandbox_id' in r || 'sandbox_config' in r ? { pod_sandbox_id: podSandboxId } : { podSandboxId }) };
    }
    try {
      const result = await lxcri.createContainer(request, call);
      return { ...result, podSandboxId, podCreated };
    } catch (error) {
      if (podCreated) await lxcri.removePodSandbox(podSandboxId).catch(() => undefined);
      throw error;
    }
  } finally {
    if (!given) await lxcri.close();
  }
}
