/**
 * The `Lxcri` lifecycle class: one instance owns the sandbox and container stores, the layer
 * cache, the runtime probes, the OCI runtime driver, the Proxmox client and the LXC runtime, and
 * exposes the CRI RuntimeService verbs in camelCase.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  NotFoundError,
  RuntimeSelectionError,
  isLxcriError,
  throwIfAborted,
} from '../errors.js';
import { createRedactingLogger, silentLogger, type Logger } from '../logger.js';
import { createLinuxHostInspector, type HostInspector } from '../cri/host-inspector.js';
import { FileContainerStore, FileSandboxStore } from '../cri/store-file.js';
import type {
  ContainerRecord,
  ContainerState,
  NormalizedPodSandboxConfig,
  SandboxNamespacePaths,
  SandboxRecord,
} from '../cri/types.js';
import { validateCreateContainer, validateOnHost, validatePodSandboxConfig } from '../cri/validate.js';
import { openImageLayout, type ResolvedImage } from '../oci/image/layout.js';
import { LayerCache } from '../oci/layers/layer-cache.js';
import { ensureImage, hostPlatform, type PullProgress } from '../oci/registry/pull.js';
import type { LayerProgress } from '../oci/layers/unpack-image.js';
import { bundlePath, writeBundle, type OciBundle } from '../oci/bundle/write-bundle.js';
import { ProxmoxClient } from '../proxmox/client.js';
import { loadRuntimePolicy, parseRuntimePolicy, type ResolvedRuntimePolicy, type RuntimeName } from '../runtime-selector/policy.js';
import { selectRuntime, type RuntimeSelection } from '../runtime-selector/select-runtime.js';
import { createRuntimeProbes, type OciRuntimeProbeResult, type RuntimeProbeResults } from '../runtime-selector/probes.js';
import { OciRuntimeDriver } from '../runtimes/crun/driver.js';
import { ProxmoxLxcRuntime } from '../runtimes/proxmox-lxc/runtime.js';
import type { LxcProgress } from '../runtimes/proxmox-lxc/progress.js';
import { isProcessAlive } from '../internal/process.js';
import { resolveLxcriOptions, type LxcriOptions, type ResolvedLxcriOptions } from './options.js';
import { setUpOciRuntime, type OciRuntimeSetup } from './oci-runtime.js';
import { createPodFiles, createPodNamespaces, podDir, podFiles, podNamespacePaths, removePodNamespaces, removePodResources } from './pod.js';
import { removeBundleDir } from './bundle-dir.js';

/** The steps of {@link Lxcri.createContainer}, in order. */
export const CREATE_STEPS = ['validate', 'select', 'image', 'reserve', 'prepare', 'create', 'record'] as const;
/** One step of {@link Lxcri.createContainer}. */
export type CreateStep = (typeof CREATE_STEPS)[number];

/** A progress report of a long operation. */
export interface LxcriProgress {
  /** The step of createContainer (or the operation) this report belongs to. */
  step: CreateStep | 'start' | 'stop' | 'remove' | 'pod';
  /** `begin` and `end` of a step, or `progress` within it. */
  event: 'begin' | 'end' | 'progress';
  /** What is being done inside the step (e.g. `layers`, `template-upload`, `task`). */
  phase?: string | undefined;
  /** Units done (bytes or entries). */
  done?: number | undefined;
  /** Units in all, when known. */
  total?: number | undefined;
  /** Milliseconds the step took (on `end`). */
  ms?: number | undefined;
}

/** What every lifecycle method accepts. */
export interface LxcriCallOptions {
  /** Cancels the call; what a create made so far is rolled back. */
  signal?: AbortSignal | undefined;
  /** Progress of long work (layer extraction, template upload, task waits). */
  onProgress?: ((progress: LxcriProgress) => void) | undefined;
}

/** The result of {@link Lxcri.createContainer}. */
export interface CreateContainerResult {
  /** The new container's id: 64 lowercase hex characters, as containerd and CRI-O make them. */
  containerId: string;
  /** The runtime it was created with. */
  runtime: RuntimeName;
  /** The runtime decision, with its reason and trace. */
  decision: RuntimeSelection;
  /** When it was created. */
  createdAt: Date;
  /** The image it was created from. */
  image: { reference: string; manifestDigest: string; configDigest: string };
  /** crun/runc: the bundle directory. */
  bundlePath?: string | undefined;
  /** Proxmox VE: where the CT is. */
  node?: string | undefined;
  vmid?: number | undefined;
  /** Milliseconds per step, and `total`. */
  timings: Partial<Record<CreateStep | 'total', number>>;
}

/** A container as {@link Lxcri.containerStatus} and {@link Lxcri.listContainers} report it. */
export interface ContainerStatus {
  id: string;
  podSandboxId: string;
  name: string;
  attempt: number;
  runtime: string;
  state: ContainerState;
  image: string;
  imageRef: string;
  createdAt: Date;
  startedAt?: Date | undefined;
  finishedAt?: Date | undefined;
  exitCode: number;
  reason: string;
  message: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  logPath: string;
  /** crun/runc: `bundlePath`; Proxmox VE: `node`, `vmid`, `templateVolid`, `mode`. */
  runtimeData: Record<string, unknown>;
}

/** Filter of {@link Lxcri.listContainers} (CRI ContainerFilter). */
export interface ContainerFilter {
  id?: string | undefined;
  podSandboxId?: string | undefined;
  state?: ContainerState | undefined;
  /** Every pair must match the container's labels. */
  labelSelector?: Record<string, string> | undefined;
}

/** What {@link Lxcri.reconcile} found (and removed, on request). */
export interface ReconcileReport {
  /** Records whose container exists in its runtime. */
  consistent: string[];
  /** Records whose container no longer exists in its runtime (or whose create never finished). */
  missingInRuntime: string[];
  /** Containers in a runtime (bundle dirs, OCI runtime state, Proxmox CTs marked by lxcri) without a record. */
  orphans: { runtime: RuntimeName; id: string; bundlePath?: string; node?: string; vmid?: number }[];
  /** What was removed (with `remove: true`). */
  removed: string[];
  /**
   * Temporary template files and rootfs directories (with their overlay mount) that a create
   * killed mid-build left in the LXC work dir (removed with `remove: true`). Files whose writer is
   * alive — another process sharing the work dir, or this instance during a create — are not
   * leftovers.
   */
  leftovers: string[];
}

/**
 * The names of the LXC runtime's temporary files in its work dir (`<16 hex>-<pid>.tar`, `.tar.gz`,
 * `.rootfs`; names without the writer's pid are from older versions).
 */
const TEMPLATE_TEMP_RE = /^[0-9a-f]{16}(?:-(\d+))?\.(?:tar|tar\.gz|rootfs)$/;

/**
 * Whether a temporary template file is still being written: by another live process (a second
 * `Lxcri` on the same work dir), or by this one while a create is in flight.
 */
function ownedByLiveProcess(pid: number, creatingHere: number): boolean {
  return pid === process.pid ? creatingHere > 0 : isProcessAlive(pid);
}

/** Dependencies `Lxcri` makes from its options unless they are passed in (tests, custom wiring). */
export interface LxcriDependencies {
  /** The Proxmox client (else made from `options.proxmox.client`). */
  proxmoxClient?: ProxmoxClient | undefined;
  /** The LXC runtime (else made from the client and `options.proxmox.lxc`). */
  lxcRuntime?: ProxmoxLxcRuntime | undefined;
  /** The OCI runtime set-up (else probed: crun or runc, features). */
  ociRuntime?: OciRuntimeSetup | undefined;
  /** Host facts for validation's host checks. */
  hostInspector?: HostInspector | undefined;
}

const CREATING = 'creating';
const PROBE_TTL_MS = 30_000;

/** A CRI-style id: 64 lowercase hex characters. */
export function newContainerId(): string {
  return randomBytes(32).toString('hex');
}

function toDate(ms: number): Date | undefined {
  return ms > 0 ? new Date(ms) : undefined;
}

function logPathOf(record: ContainerRecord, sandbox: SandboxRecord | undefined): string {
  const dir = sandbox?.config.logDirectory ?? '';
  const file = record.config.logPath;
  return dir !== '' && file !== '' ? join(dir, file) : '';
}

/**
 * Creates containers the way a CRI runtime does, under crun/runc on this node or as Proxmox VE
 * LXC containers, and runs their lifecycle. One instance per state directory and process.
 *
 * @example
 * ```ts
 * import { Lxcri } from 'proxmox-lxcri';
 * await using lxcri = new Lxcri({ stateDir: '/var/lib/lxcri', images: '/srv/oci/busybox' });
 * const { podSandboxId } = await lxcri.runPodSandbox({ metadata: { name: 'pod', uid: 'u1', namespace: 'default' } });
 * const { containerId } = await lxcri.createContainer({
 *   podSandboxId,
 *   config: { metadata: { name: 'app' }, image: { image: 'busybox:latest' }, command: ['echo', 'hi'] },
 *   sandboxConfig: { metadata: { name: 'pod', uid: 'u1', namespace: 'default' } },
 * });
 * await lxcri.startContainer(containerId);
 * ```
 */
export class Lxcri implements AsyncDisposable {
  /** The options after defaults. */
  readonly options: ResolvedLxcriOptions;
  /** Pod sandboxes (`<stateDir>/sandboxes`). */
  readonly sandboxes: FileSandboxStore;
  /** Containers (`<stateDir>/containers`). */
  readonly containers: FileContainerStore;
  /** The layer cache (`<stateDir>/layers`), shared by bundles and LXC templates. */
  readonly layerCache: LayerCache;
  /** The Proxmox VE client, when `proxmox` is configured. */
  readonly proxmox: ProxmoxClient | undefined;
  /** The LXC runtime, when `proxmox` is configured. */
  readonly lxc: ProxmoxLxcRuntime | undefined;
  readonly #logger: Logger;
  readonly #host: HostInspector | undefined;
  readonly #ownsClient: boolean;
  #oci: Promise<OciRuntimeSetup> | undefined;
  /** When this instance ran `--version` of its OCI runtime in the set-up (not for an injected set-up). */
  #ociSetUpAt: number | undefined;
  #driver: OciRuntimeDriver | undefined;
  #policy: Promise<ResolvedRuntimePolicy> | undefined;
  #probes: { at: number; value: Promise<RuntimeProbeResults> } | undefined;
  #closed = false;
  /** createContainer calls running in this instance (reconcile leaves the LXC work dir alone meanwhile). */
  #creating = 0;
  readonly #podSetups = new Map<string, Promise<SandboxRecord>>();
  /**
   * Pod names (metadata) → sandbox id, and the containers of each pod: read
   * from the stores once, then kept by this instance's own writes, so a create reads two records
   * instead of every record in the state dir. (The stores' contract: one writer per directory.)
   */
  #podNames: Promise<Map<string, string>> | undefined;
  #podMembers: Promise<Map<string, Map<string, PodMember>>> | undefined;
  /** The state dir, made (mode 0700) once per instance. */
  #stateDirMade: Promise<unknown> | undefined;

  constructor(options: LxcriOptions = {}, dependencies: LxcriDependencies = {}) {
    const o = resolveLxcriOptions(options);
    const stateDir = resolve(o.stateDir);
    this.options = { ...o, stateDir, images: { ...o.images, layouts: o.images.layouts.map((d) => resolve(d)), ...(o.images.store ? { store: resolve(o.images.store) } : {}) } };
    this.#logger = createRedactingLogger(o.logger ?? silentLogger);
    this.sandboxes = new FileSandboxStore({ directory: stateDir });
    this.containers = new FileContainerStore({ directory: stateDir });
    this.layerCache = new LayerCache({ root: join(stateDir, 'layers'), logger: this.#logger });
    this.#host = dependencies.hostInspector ?? (o.hostChecks ? createLinuxHostInspector() : undefined);
    if (dependencies.ociRuntime) this.#oci = Promise.resolve(dependencies.ociRuntime);
    this.#ownsClient = dependencies.proxmoxClient === undefined && o.proxmox !== undefined;
    this.proxmox = dependencies.proxmoxClient ?? (o.proxmox ? new ProxmoxClient({ logger: this.#logger, ...o.proxmox.client }) : undefined);
    this.lxc =
      dependencies.lxcRuntime ??
      (this.proxmox
        ? new ProxmoxLxcRuntime(this.proxmox, {
            logger: this.#logger,
            layerCache: this.layerCache,
            workDir: join(stateDir, 'templates'),
            ...(o.proxmox?.lxc ?? {}),
          })
        : undefined);
  }

  // ------------------------------------------------------------------------------------------
  // Set-up shared by the verbs

  /** The OCI runtime lxcri drives on this node (chosen and probed once). */
  ociRuntime(): Promise<OciRuntimeSetup> {
    this.#oci ??= setUpOciRuntime(this.options, this.#logger).then((setup) => {
      this.#ociSetUpAt = performance.now();
      return setup;
    });
    return this.#oci;
  }

  async #ociDriver(): Promise<OciRuntimeDriver> {
    const setup = await this.ociRuntime();
    this.#driver ??= new OciRuntimeDriver(setup.driver);
    return this.#driver;
  }

  #runtimePolicy(signal?: AbortSignal): Promise<ResolvedRuntimePolicy> {
    const p = this.options.policy;
    this.#policy ??= typeof p === 'string' ? loadRuntimePolicy(resolve(p), signal ? { signal } : {}) : Promise.resolve(parseRuntimePolicy(p));
    this.#policy.catch(() => {
      this.#policy = undefined;
    });
    return this.#policy;
  }

  /** What the runtimes can do now (cached for 30 s): the OCI runtime, and the PVE API's `/version`. */
  async #probeRuntimes(signal?: AbortSignal): Promise<RuntimeProbeResults> {
    if (this.#probes && performance.now() - this.#probes.at < PROBE_TTL_MS) return this.#probes.value;
    const value = (async (): Promise<RuntimeProbeResults> => {
      const oci = await this.ociRuntime();
      const client = this.proxmox;
      const auth = this.options.proxmox?.client.auth as { type?: string; tokenId?: string; username?: string } | undefined;
      const path = oci.driver.runtime ?? oci.name;
      const probes = createRuntimeProbes({
        ociRuntimePath: path,
        ...(client && this.lxc
          ? { proxmox: { version: (o: { signal: AbortSignal }) => client.version.get(o), authId: auth?.tokenId ?? auth?.username } }
          : {}),
      });
      const sig = signal ? { signal } : {};
      // the set-up ran `<runtime> --version` moments ago: its answer is the first probe's
      const setUpAt = this.#ociSetUpAt;
      const fromSetUp = oci.available && oci.version !== undefined && setUpAt !== undefined && performance.now() - setUpAt < PROBE_TTL_MS ? ociProbeFromSetUp(path, oci.version) : undefined;
      const [crun, proxmox] = await Promise.all([fromSetUp ?? probes.probeOciRuntime(sig), probes.probeProxmox(sig)]);
      return { crun, 'proxmox-lxc': proxmox };
    })();
    this.#probes = { at: performance.now(), value };
    value.catch(() => {
      this.#probes = undefined;
    });
    return value;
  }

  async #resolveImage(reference: string, signal?: AbortSignal, onProgress?: LxcriCallOptions['onProgress']): Promise<ResolvedImage> {
    const images = this.options.images;
    if (images.layouts.length === 0 && !images.store) {
      throw new NotFoundError(`image ${JSON.stringify(reference)} not found: no image layouts or store are configured (options.images)`, { reference });
    }
    const platform = this.options.platform ?? hostPlatform();
    let lastMiss: unknown;
    for (const dir of images.layouts) {
      const layout = await openImageLayout(dir, { logger: this.#logger });
      try {
        return await layout.resolve(reference, { platform, ...(signal ? { signal } : {}) });
      } catch (error) {
        if (isLxcriError(error) && error.code === 'ERR_NOT_FOUND') {
          lastMiss = error;
          continue;
        }
        throw error;
      }
    }
    if (images.store) {
      return ensureImage(reference, {
        store: images.store,
        pullPolicy: images.pullPolicy,
        platform,
        insecureRegistries: images.insecureRegistries,
        logger: this.#logger,
        ...(images.authFile ? { auth: { authFile: images.authFile } } : {}),
        ...(images.caFile ? { tls: { caFile: images.caFile } } : {}),
        ...(signal ? { signal } : {}),
        ...(onProgress ? { onProgress: (p: PullProgress) => onProgress({ step: 'image', event: 'progress', phase: `pull ${p.phase}`, done: p.bytes, total: p.totalBytes }) } : {}),
      });
    }
    throw new NotFoundError(`image ${JSON.stringify(reference)} not found for ${platform} in ${images.layouts.length} image layout(s)`, { reference, platform }, { cause: lastMiss });
  }

  #assertOpen(): void {
    if (this.#closed) throw new FailedPreconditionError('this Lxcri instance is closed');
  }

  async #record(id: string, signal?: AbortSignal): Promise<ContainerRecord> {
    const record = await this.containers.get(id, signal ? { signal } : {});
    if (!record) throw new NotFoundError(`container ${JSON.stringify(id.slice(0, 140))} not found`, { id: id.slice(0, 140) });
    return record;
  }

  // ------------------------------------------------------------------------------------------
  // Pod sandboxes

  /**
   * RunPodSandbox: validates the pod config, stores the sandbox and writes the pod's hosts,
   * hostname and resolv.conf. The namespaces and /dev/shm that crun/runc containers share are made
   * with the pod's first crun/runc container (see the `oci.podNamespaces` option); LXC
   * containers are CTs of their own, to which the pod gives hostname, DNS and annotations.
   *
   * @example
   * ```ts
   * const { podSandboxId } = await lxcri.runPodSandbox({ metadata: { name: 'web', uid: 'u1', namespace: 'default' }, hostname: 'web' });
   * ```
   * @throws CriValidationError for an invalid config; AlreadyExistsError when a pod with the same metadata exists.
   */
  async runPodSandbox(config: unknown, options: LxcriCallOptions & { runtimeHandler?: string | undefined } = {}): Promise<{ podSandboxId: string; sandbox: SandboxRecord }> {
    this.#assertOpen();
    const { signal } = options;
    const oci = await this.ociRuntime();
    const normalized: NormalizedPodSandboxConfig = validatePodSandboxConfig(config, { features: oci.features });
    const m = normalized.metadata;
    const key = podNameKey(m);
    const names = await this.#podNameIndex(signal);
    const holder = names.get(key);
    if (holder !== undefined) {
      throw new AlreadyExistsError(`failed to reserve sandbox name ${JSON.stringify(`${m.name}_${m.namespace}_${m.uid}_${m.attempt}`)}: it is reserved for ${holder}`, { sandboxId: holder });
    }
    const id = newContainerId();
    // reserved before the first await: a concurrent run of the same pod is refused
    names.set(key, id);
    const release = (): void => {
      if (names.get(key) === id) names.delete(key);
    };
    const dir = podDir(this.options.stateDir, id);
    try {
      await this.#makeStateDir();
      await createPodFiles(dir, normalized);
    } catch (error) {
      release();
      throw error;
    }
    const record: SandboxRecord = {
      id,
      metadata: normalized.metadata,
      config: normalized,
      state: 'SANDBOX_READY',
      runtimeHandler: options.runtimeHandler ?? '',
      // made with the pod's first crun/runc container (an LXC pod has none to share)
      namespacePaths: {},
      createdAt: Date.now(),
    };
    try {
      await this.sandboxes.create(record, signal ? { signal } : {});
    } catch (error) {
      release();
      await removePodResources(dir, this.#logger).catch(() => undefined);
      throw error;
    }
    this.#logger.info({ sandboxId: id }, 'pod sandbox ready');
    return { podSandboxId: id, sandbox: record };
  }

  /**
   * RemovePodSandbox: removes the pod's containers (stopping them), its shared resources and its
   * record. Removing a pod that does not exist succeeds, as in CRI.
   */
  async removePodSandbox(podSandboxId: string, options: LxcriCallOptions = {}): Promise<void> {
    this.#assertOpen();
    const { signal } = options;
    const sandbox = await this.sandboxes.get(podSandboxId, signal ? { signal } : {}).catch((error: unknown) => {
      if (isLxcriError(error) && error.code === 'ERR_STORE') throw error;
      return undefined;
    });
    if (!sandbox) return;
    for (const c of await this.containers.list({ sandboxId: podSandboxId }, signal ? { signal } : {})) {
      await this.removeContainer(c.id, options);
    }
    await removePodResources(podDir(this.options.stateDir, podSandboxId), this.#logger);
    await this.sandboxes.delete(podSandboxId, signal ? { signal } : {});
    const names = await this.#podNames?.catch(() => undefined);
    const key = podNameKey(sandbox.metadata);
    if (names?.get(key) === podSandboxId) names.delete(key);
    (await this.#podMembers?.catch(() => undefined))?.delete(podSandboxId);
  }

  #makeStateDir(): Promise<unknown> {
    this.#stateDirMade ??= mkdir(this.options.stateDir, { recursive: true, mode: 0o700 });
    this.#stateDirMade.catch(() => {
      this.#stateDirMade = undefined;
    });
    return this.#stateDirMade;
  }

  /** Pod name → sandbox id, from the store on first use. */
  #podNameIndex(signal?: AbortSignal): Promise<Map<string, string>> {
    this.#podNames ??= this.sandboxes.list(signal ? { signal } : {}).then((all) => new Map(all.map((s) => [podNameKey(s.metadata), s.id])));
    this.#podNames.catch(() => {
      this.#podNames = undefined;
    });
    return this.#podNames;
  }

  /** Sandbox id → its containers, from the store on first use. */
  #podMemberIndex(signal?: AbortSignal): Promise<Map<string, Map<string, PodMember>>> {
    this.#podMembers ??= this.containers.list({}, signal ? { signal } : {}).then((all) => {
      const index = new Map<string, Map<string, PodMember>>();
      for (const c of all) addPodMember(index, c);
      return index;
    });
    this.#podMembers.catch(() => {
      this.#podMembers = undefined;
    });
    return this.#podMembers;
  }

  /** Keeps the pod member index (when loaded) in step with a container record written or deleted here. */
  async #trackContainer(record: Pick<ContainerRecord, 'id' | 'sandboxId' | 'name' | 'runtime'>, present: boolean): Promise<void> {
    if (!this.#podMembers) return;
    const index = await this.#podMembers.catch(() => undefined);
    if (!index) return;
    if (present) addPodMember(index, record);
    else index.get(record.sandboxId)?.delete(record.id);
  }

  /** The pod sandboxes in the store. */
  listPodSandboxes(options: LxcriCallOptions = {}): Promise<SandboxRecord[]> {
    return this.sandboxes.list(options.signal ? { signal: options.signal } : {});
  }

  // ------------------------------------------------------------------------------------------
  // Containers

  /**
   * CreateContainer: validate (with the stored sandbox) → select the runtime → resolve the image →
   * reserve the name → prepare (a bundle over the layer cache, or the LXC template) → create →
   * record. A failure at any step (an abort included) undoes, in reverse, what this call made and
   * nothing else.
   *
   * @example
   * ```ts
   * const steps: string[] = [];
   * const result = await lxcri.createContainer(request, { onProgress: (p) => steps.push(`${p.step} ${p.event}`) });
   * const { containerId, runtime, decision } = result; // decision.reason says why this runtime
   * ```
   * @throws CriValidationError (InvalidArgument, NotFound for a missing sandbox, AlreadyExists for a reserved name),
   *   RuntimeSelectionError, NotFoundError (image), and the errors of the runtime that creates it.
   */
  async createContainer(request: unknown, options: LxcriCallOptions = {}): Promise<CreateContainerResult> {
    this.#assertOpen();
    const { signal, onProgress } = options;
    const timings: CreateContainerResult['timings'] = {};
    const started = performance.now();
    const undo: { what: string; run: () => Promise<unknown> }[] = [];
    const step = async <T>(name: CreateStep, fn: () => Promise<T>): Promise<T> => {
      throwIfAborted(signal, `createContainer (${name})`);
      onProgress?.({ step: name, event: 'begin' });
      const t = performance.now();
      const value = await fn();
      timings[name] = Math.round((performance.now() - t) * 100) / 100;
      onProgress?.({ step: name, event: 'end', ms: timings[name] });
      return value;
    };
    const sig = signal ? { signal } : {};
    this.#creating++;
    try {
      const oci = await this.ociRuntime();
      // the stored sandbox config is the truth, never the request's copy (containerd)
      const { request: req, sandbox } = await step('validate', () =>
        validateCreateContainer(request, { sandboxes: this.sandboxes, containers: this.containers, features: oci.features, ...sig }),
      );
      const decision = await step('select', async () => {
        const [policy, probes, members] = await Promise.all([this.#runtimePolicy(signal), this.#probeRuntimes(signal), this.#podMemberIndex(signal)]);
        const selected = selectRuntime(req, policy, probes, {
          sandbox,
          podContainers: [...(members.get(sandbox.id)?.values() ?? [])].map((c) => ({ ...c })),
        });
        // device nodes, AppArmor, seccomp files and sysctls of this host matter only to a container
        // that runs on it, not to a CT on a Proxmox VE node
        if (selected.runtime === 'crun' && this.#host) await validateOnHost(req, this.#host, signal);
        return selected;
      });
      const image = await step('image', () => this.#resolveImage(req.config.image.image, signal, onProgress));
      const containerId = newContainerId();
      const createdAt = Date.now();
      await step('reserve', async () => {
        const record: ContainerRecord = {
          id: containerId,
          sandboxId: sandbox.id,
          name: req.config.metadata.name,
          attempt: req.config.metadata.attempt,
          config: req.config,
          state: 'CONTAINER_UNKNOWN',
          runtime: decision.runtime,
          image: req.config.image.image,
          imageRef: image.manifestDigest,
          createdAt,
          startedAt: 0,
          finishedAt: 0,
          exitCode: 0,
          reason: '',
          message: CREATING,
          runtimeData: { creatingPid: process.pid },
        };
        await this.#makeStateDir();
        await this.containers.create(record, sig);
        await this.#trackContainer(record, true);
        undo.push({
          what: 'the container record',
          run: async () => {
            await this.containers.delete(containerId);
            await this.#trackContainer(record, false);
          },
        });
      });
      const progress = (stepName: CreateStep, phase: string) => (p: LayerProgress | LxcProgress): void => {
        const detail = 'totalCompressedBytes' in p ? { done: p.totalCompressedBytes, total: p.totalCompressedSize } : { done: p.bytesDone ?? p.entriesDone, total: p.bytesTotal ?? p.entriesTotal };
        onProgress?.({ step: stepName, event: 'progress', phase: 'phase' in p && typeof p.phase === 'string' ? p.phase : phase, ...detail });
      };
      let runtimeData: Record<string, unknown>;
      if (decision.runtime === 'crun') {
        const bundle: OciBundle = await step('prepare', async () => {
          // the pod's namespaces (made by its first container) and the bundle, at the same time
          const pod = this.#podNamespaces(sandbox, undo, signal);
          const writing = writeBundle(bundlePath(join(this.options.stateDir, 'bundles'), containerId), {
            containerId,
            request: req,
            image,
            rootfsProvider: this.layerCache,
            rootfsMode: this.options.oci.rootfsMode,
            createMissingHostPaths: true,
            logger: this.#logger,
            spec: {
              sandbox: { id: sandbox.id, namespacePaths: pod.namespacePaths },
              podFiles: podFiles(podDir(this.options.stateDir, sandbox.id), pod.namespacePaths.ipc ? join(podDir(this.options.stateDir, sandbox.id), 'shm') : undefined),
              imageName: image.reference,
              ...(this.options.oci.cgroupManager === 'systemd' ? { systemdCgroup: true } : {}),
            },
            onProgress: progress('prepare', 'layers'),
            ...sig,
          });
          const [namespaces, written] = await Promise.allSettled([pod.ready, writing]);
          if (written.status === 'fulfilled') {
            const made = written.value;
            undo.push({ what: 'the bundle', run: () => made.remove() });
          }
          if (namespaces.status === 'rejected') throw namespaces.reason;
          if (written.status === 'rejected') throw written.reason;
          return written.value;
        });
        const logPath = logPathOf({ config: req.config } as ContainerRecord, sandbox);
        await step('create', async () => {
          const driver = await this.#ociDriver();
          if (logPath !== '') await mkdir(join(logPath, '..'), { recursive: true });
          undo.push({ what: `the ${oci.name} container`, run: () => driver.delete(containerId, { force: true }).catch((e: unknown) => (isLxcriError(e) && e.code === 'ERR_NOT_FOUND' ? undefined : Promise.reject(e))) });
          await driver.create(containerId, { bundle: bundle.path, ...(logPath !== '' ? { logPath } : {}), ...sig });
        });
        runtimeData = { bundlePath: bundle.path, rootfsMode: bundle.rootfsMode, ociRuntime: oci.name, logPath };
      } else {
        const lxc = this.lxc;
        if (!lxc) throw new RuntimeSelectionError('proxmox-lxc was selected but no Proxmox VE API is configured (options.proxmox)', { runtime: 'proxmox-lxc', reason: 'not configured' }, { grpcStatus: 'FailedPrecondition' });
        const ct = await step('create', async () => {
          const made = await lxc.create(req, image, { containerId, onProgress: progress('create', 'template'), ...sig });
          undo.push({ what: `CT ${made.vmid} on ${made.node}`, run: () => lxc.remove(made) });
          return made;
        });
        runtimeData = { node: ct.node, vmid: ct.vmid, templateVolid: ct.templateVolid, mode: ct.mode };
      }
      await step('record', () =>
        this.containers.update(containerId, (r) => ({ ...r, state: 'CONTAINER_CREATED', message: '', runtimeData })),
      );
      timings.total = Math.round((performance.now() - started) * 100) / 100;
      this.#logger.info({ containerId, runtime: decision.runtime, sandboxId: sandbox.id, ms: timings.total }, 'container created');
      return {
        containerId,
        runtime: decision.runtime,
        decision,
        createdAt: new Date(createdAt),
        image: { reference: image.reference, manifestDigest: image.manifestDigest, configDigest: image.configDigest },
        ...(typeof runtimeData['bundlePath'] === 'string' ? { bundlePath: runtimeData['bundlePath'] } : {}),
        ...(typeof runtimeData['node'] === 'string' ? { node: runtimeData['node'], vmid: runtimeData['vmid'] as number } : {}),
        timings,
      };
    } catch (error) {
      const failures: string[] = [];
      for (const u of undo.reverse()) {
        try {
          await u.run();
        } catch (cleanupError) {
          failures.push(`${u.what}: ${(cleanupError as Error).message}`);
          this.#logger.error({ what: u.what, error: String(cleanupError) }, 'rollback step failed');
        }
      }
      if (undo.length > 0) this.#logger.warn({ undone: undo.length - failures.length, failed: failures.length, error: String(error) }, 'createContainer rolled back');
      if (failures.length > 0 && isLxcriError(error)) {
        (error.details as Record<string, unknown>)['rollbackFailures'] = failures;
      }
      throw error;
    } finally {
      this.#creating--;
    }
  }

  /**
   * The pod's shared namespaces: made with its first crun/runc container (as root, unless
   * `oci.podNamespaces` is false), recorded in the sandbox, and undone with the create that made
   * them when it fails. Their paths are known at once (`podNamespacePaths`), so the bundle is
   * written while they are made; `ready` settles when they exist and the sandbox records them.
   */
  #podNamespaces(sandbox: SandboxRecord, undo: { what: string; run: () => Promise<unknown> }[], signal?: AbortSignal): { namespacePaths: SandboxNamespacePaths; ready: Promise<unknown> } {
    const wanted = this.options.oci.podNamespaces ?? process.getuid?.() === 0;
    const done = { namespacePaths: sandbox.namespacePaths, ready: Promise.resolve() };
    if (!wanted || Object.keys(sandbox.namespacePaths).length > 0) return done;
    const ns = sandbox.config.linux.securityContext.namespaceOptions;
    if (ns.network === 'NODE' && ns.ipc === 'NODE') return done;
    const dir = podDir(this.options.stateDir, sandbox.id);
    const { namespacePaths } = podNamespacePaths(dir, sandbox.config);
    let pending = this.#podSetups.get(sandbox.id);
    if (!pending) {
      pending = (async () => {
        const current = await this.sandboxes.get(sandbox.id);
        if (current && Object.keys(current.namespacePaths).length > 0) return current;
        const made = await createPodNamespaces(dir, sandbox.config, { logger: this.#logger, signal });
        undo.push({
          what: 'the pod namespaces',
          run: async () => {
            const others = await this.containers.list({ sandboxId: sandbox.id });
            if (others.some((c) => c.runtime === 'crun' && c.message !== CREATING)) return;
            await removePodNamespaces(dir, this.#logger);
            await this.sandboxes.update(sandbox.id, (r) => ({ ...r, namespacePaths: {} }));
          },
        });
        return this.sandboxes.update(sandbox.id, (r) => ({ ...r, namespacePaths: made.namespacePaths }));
      })();
      this.#podSetups.set(sandbox.id, pending);
      pending.then(
        () => this.#podSetups.delete(sandbox.id),
        () => this.#podSetups.delete(sandbox.id),
      );
    }
    const ready = pending.then((record) => {
      const recorded = record.namespacePaths as Record<string, string | undefined>;
      const planned = namespacePaths as Record<string, string | undefined>;
      if (Object.keys({ ...recorded, ...planned }).some((k) => recorded[k] !== planned[k])) {
        throw new FailedPreconditionError(`pod ${sandbox.id} records namespaces other than its own`, { sandboxId: sandbox.id });
      }
    });
    return { namespacePaths, ready };
  }

  /** StartContainer: runs a created container. */
  async startContainer(containerId: string, options: LxcriCallOptions = {}): Promise<void> {
    this.#assertOpen();
    const { signal } = options;
    const record = await this.#record(containerId, signal);
    if (record.state !== 'CONTAINER_CREATED') {
      throw new FailedPreconditionError(`container ${containerId} is in state ${record.state}, not CONTAINER_CREATED`, { id: containerId, state: record.state });
    }
    onStep(options, 'start', 'begin');
    if (record.runtime === 'crun') {
      const driver = await this.#ociDriver();
      await driver.start(containerId, signal ? { signal } : {});
    } else {
      await this.#lxcOf(record).start(ctOf(record), signal ? { signal } : {});
    }
    await this.containers.update(containerId, (r) => ({ ...r, state: 'CONTAINER_RUNNING', startedAt: Date.now() }));
    onStep(options, 'start', 'end');
  }

  /**
   * StopContainer: asks the container to stop (SIGTERM / PVE shutdown) and after `timeoutSeconds`
   * forces it (SIGKILL / PVE stop). Stopping a stopped container succeeds.
   */
  async stopContainer(containerId: string, timeoutSeconds = 10, options: LxcriCallOptions = {}): Promise<void> {
    this.#assertOpen();
    const { signal } = options;
    const record = await this.#record(containerId, signal);
    if (record.state === 'CONTAINER_EXITED') return;
    onStep(options, 'stop', 'begin');
    if (record.runtime === 'crun') {
      const driver = await this.#ociDriver();
      const state = await driver.state(containerId, signal ? { signal } : {}).catch((error: unknown) => {
        if (isLxcriError(error) && (error.code === 'ERR_NOT_FOUND' || error.code === 'ERR_OCI_RUNTIME')) return undefined;
        throw error;
      });
      let exit = state?.exit;
      if (state && !exit && state.status !== 'stopped') {
        if (state.status === 'running' && timeoutSeconds > 0) {
          await driver.kill(containerId, { killSignal: 'SIGTERM', ...(signal ? { signal } : {}) }).catch(() => undefined);
          exit = await driver.waitForExit(containerId, { timeoutMs: timeoutSeconds * 1000, ...(signal ? { signal } : {}) }).catch((error: unknown) => {
            if (signal?.aborted) throw error;
            return undefined;
          });
        }
        if (!exit) {
          // SIGKILL to init ends its PID namespace; a container in the host's PID namespace needs --all
          // (which needs the container's cgroup, so it is not the only attempt)
          const hostPid = record.config.linux.securityContext.namespaceOptions.pid === 'NODE';
          await driver.kill(containerId, { killSignal: 'SIGKILL', ...(signal ? { signal } : {}) }).catch(() => undefined);
          if (hostPid) await driver.kill(containerId, { killSignal: 'SIGKILL', all: true, ...(signal ? { signal } : {}) }).catch(() => undefined);
          exit = await driver.waitForExit(containerId, { timeoutMs: 30_000, ...(signal ? { signal } : {}) });
        }
      }
      await this.containers.update(containerId, (r) => exitedRecord(r, exit?.exitCode ?? (exit?.signal ? 137 : 0), exit ? Date.parse(exit.finishedAt) : Date.now()));
    } else {
      const lxc = this.#lxcOf(record);
      await lxc.stop(ctOf(record), timeoutSeconds, signal ? { signal } : {});
      const status = await lxc.status(ctOf(record), signal ? { signal } : {}).catch(() => undefined);
      await this.containers.update(containerId, (r) => exitedRecord(r, status?.exitCode ?? 0, status?.finishedAt?.getTime() ?? Date.now()));
    }
    onStep(options, 'stop', 'end');
  }

  /**
   * RemoveContainer: removes the container from its runtime (forcibly, as CRI asks), its bundle
   * or CT, and its record. Removing a container that does not exist succeeds.
   */
  async removeContainer(containerId: string, options: LxcriCallOptions = {}): Promise<void> {
    this.#assertOpen();
    const { signal } = options;
    const record = await this.containers.get(containerId, signal ? { signal } : {});
    if (!record) return;
    onStep(options, 'remove', 'begin');
    if (record.runtime === 'crun') {
      const driver = await this.#ociDriver();
      await driver.delete(containerId, { force: true, ...(signal ? { signal } : {}) }).catch((error: unknown) => {
        if (isLxcriError(error) && error.code === 'ERR_NOT_FOUND') return;
        throw error;
      });
      const bundle = typeof record.runtimeData['bundlePath'] === 'string' ? record.runtimeData['bundlePath'] : bundlePath(join(this.options.stateDir, 'bundles'), containerId);
      await removeBundleDir(bundle);
    } else if (typeof record.runtimeData['vmid'] === 'number') {
      await this.#lxcOf(record).remove(ctOf(record), signal ? { signal } : {});
    }
    await this.containers.delete(containerId);
    await this.#trackContainer(record, false);
    onStep(options, 'remove', 'end');
  }

  /** ContainerStatus: the record, refreshed from the runtime (an exit is recorded). */
  async containerStatus(containerId: string, options: LxcriCallOptions = {}): Promise<ContainerStatus> {
    this.#assertOpen();
    const record = await this.#refresh(await this.#record(containerId, options.signal), options.signal);
    const sandbox = await this.sandboxes.get(record.sandboxId).catch(() => undefined);
    return toStatus(record, sandbox);
  }

  /** ListContainers: the containers in the store matching `filter`, their states refreshed. */
  async listContainers(filter: ContainerFilter = {}, options: LxcriCallOptions = {}): Promise<ContainerStatus[]> {
    this.#assertOpen();
    const { signal } = options;
    let records = await this.containers.list(filter.podSandboxId ? { sandboxId: filter.podSandboxId } : {}, signal ? { signal } : {});
    if (filter.id) records = records.filter((r) => r.id === filter.id || r.id.startsWith(filter.id as string));
    const selector = Object.entries(filter.labelSelector ?? {});
    records = records.filter((r) => selector.every(([k, v]) => r.config.labels[k] === v));
    const sandboxes = new Map((await this.sandboxes.list(signal ? { signal } : {})).map((s) => [s.id, s]));
    const out: ContainerStatus[] = [];
    for (const r of records) {
      const fresh = await this.#refresh(r, signal);
      if (filter.state && fresh.state !== filter.state) continue;
      out.push(toStatus(fresh, sandboxes.get(fresh.sandboxId)));
    }
    return out;
  }

  /** Brings a record up to date with its runtime (running → exited). */
  async #refresh(record: ContainerRecord, signal?: AbortSignal): Promise<ContainerRecord> {
    if (record.state !== 'CONTAINER_RUNNING' && record.state !== 'CONTAINER_CREATED') return record;
    try {
      if (record.runtime === 'crun') {
        const driver = await this.#ociDriver();
        const exit = await driver.exitStatus(record.id);
        if (exit && record.state === 'CONTAINER_RUNNING') {
          return await this.containers.update(record.id, (r) => exitedRecord(r, exit.exitCode ?? 137, Date.parse(exit.finishedAt)));
        }
        return record;
      }
      if (!this.lxc || typeof record.runtimeData['vmid'] !== 'number') return record;
      const status = await this.lxc.status(ctOf(record), signal ? { signal } : {});
      if (status.state === 'exited' && record.state === 'CONTAINER_RUNNING') {
        return await this.containers.update(record.id, (r) => exitedRecord(r, status.exitCode ?? 0, status.finishedAt?.getTime() ?? Date.now()));
      }
      if (status.state === 'unknown') return { ...record, state: 'CONTAINER_UNKNOWN', message: status.pveStatus ? `PVE status ${status.pveStatus}` : 'not found in Proxmox VE' };
      return record;
    } catch (error) {
      if (signal?.aborted) throw error;
      this.#logger.warn({ id: record.id, error: String(error) }, 'could not refresh the container state');
      return record;
    }
  }

  #lxcOf(record: ContainerRecord): ProxmoxLxcRuntime {
    if (!this.lxc) throw new FailedPreconditionError(`container ${record.id} is a Proxmox VE CT but no Proxmox VE API is configured (options.proxmox)`, { id: record.id });
    return this.lxc;
  }

  // ------------------------------------------------------------------------------------------
  // Restart recovery

  /**
   * Compares the store with the runtimes: `crun/runc state` and the bundle directories for
   * containers on this node; the CTs marked by lxcri (tags + description marker) for Proxmox VE.
   * What exists on only one side is reported, and removed with `remove: true`. Creates that a dead
   * process left half-done (records still `creating`) count as missing in the runtime.
   */
  async reconcile(options: LxcriCallOptions & { remove?: boolean } = {}): Promise<ReconcileReport> {
    this.#assertOpen();
    const { signal } = options;
    const report: ReconcileReport = { consistent: [], missingInRuntime: [], orphans: [], removed: [], leftovers: [] };
    const records = await this.containers.list({}, signal ? { signal } : {});
    const known = new Set(records.map((r) => r.id));
    const driver = await this.#ociDriver();
    for (const r of records) {
      throwIfAborted(signal, 'reconcile');
      const pid = r.runtimeData['creatingPid'];
      const abandoned = r.message === CREATING && !(typeof pid === 'number' && pid !== process.pid && isProcessAlive(pid));
      let exists: boolean;
      if (abandoned) exists = false;
      else if (r.runtime === 'crun') {
        exists = await driver.state(r.id).then(
          () => true,
          () => false,
        );
      } else if (this.lxc && typeof r.runtimeData['vmid'] === 'number') {
        exists = (await this.lxc.status(ctOf(r), signal ? { signal } : {})).state !== 'unknown';
      } else exists = false;
      if (exists) report.consistent.push(r.id);
      else if (!(r.message === CREATING && !abandoned)) report.missingInRuntime.push(r.id);
    }
    const bundleRoot = join(this.options.stateDir, 'bundles');
    for (const name of await readdir(bundleRoot).catch(() => [] as string[])) {
      if (!known.has(name) || report.missingInRuntime.includes(name)) {
        if (!known.has(name)) report.orphans.push({ runtime: 'crun', id: name, bundlePath: join(bundleRoot, name) });
      }
    }
    if (this.lxc) {
      for (const ct of await this.lxc.list(signal ? { signal } : {})) {
        const owner = records.find((r) => r.id === ct.containerId);
        const abandoned = owner && report.missingInRuntime.includes(owner.id);
        if (!owner || abandoned) report.orphans.push({ runtime: 'proxmox-lxc', id: ct.containerId, node: ct.node, vmid: ct.vmid });
      }
    }
    if (options.remove) {
      for (const id of report.missingInRuntime) {
        const r = records.find((x) => x.id === id) as ContainerRecord;
        if (r.runtime === 'crun') {
          await driver.delete(id, { force: true }).catch(() => undefined);
          await removeBundleDir(bundlePath(bundleRoot, id));
        }
        await this.containers.delete(id);
        await this.#trackContainer(r, false);
        report.removed.push(id);
      }
      for (const orphan of report.orphans) {
        if (orphan.runtime === 'crun') {
          await driver.delete(orphan.id, { force: true }).catch(() => undefined);
          await removeBundleDir(orphan.bundlePath as string);
        } else if (this.lxc && orphan.node && orphan.vmid !== undefined) {
          await this.lxc.remove({ node: orphan.node, vmid: orphan.vmid }, signal ? { signal } : {});
        }
        if (!report.removed.includes(orphan.id)) report.removed.push(orphan.id);
      }
    }
    if (this.lxc) {
      const workDir = this.lxc.options.workDir;
      for (const name of await readdir(workDir).catch(() => [] as string[])) {
        const temp = TEMPLATE_TEMP_RE.exec(name);
        if (!temp || (temp[1] !== undefined && ownedByLiveProcess(Number(temp[1]), this.#creating))) continue;
        report.leftovers.push(join(workDir, name));
      }
      if (options.remove) {
        for (const path of report.leftovers) {
          // a .rootfs directory may still have the template's overlay rootfs mounted at <dir>/rootfs
          if (path.endsWith('.rootfs')) await removeBundleDir(path);
          else await rm(path, { force: true });
        }
      }
    }
    return report;
  }

  /** Closes the Proxmox client (when this instance made it). Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) await this.proxmox?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** A container as the runtime decision sees the pod's other containers. */
interface PodMember {
  id: string;
  name: string;
  runtime: string;
}

function addPodMember(index: Map<string, Map<string, PodMember>>, c: Pick<ContainerRecord, 'id' | 'sandboxId' | 'name' | 'runtime'>): void {
  let members = index.get(c.sandboxId);
  if (!members) index.set(c.sandboxId, (members = new Map()));
  members.set(c.id, { id: c.id, name: c.name, runtime: c.runtime });
}

/** The metadata a pod reserves (unambiguous, unlike containerd's `name_namespace_uid_attempt`). */
function podNameKey(m: { name: string; namespace: string; uid: string; attempt: number }): string {
  return JSON.stringify([m.name, m.namespace, m.uid, m.attempt]);
}

/** The OCI runtime probe's answer, from the `--version` line the set-up read (as `createRuntimeProbes` words it). */
function ociProbeFromSetUp(path: string, versionLine: string): OciRuntimeProbeResult {
  const line = versionLine.slice(0, 300);
  const match = /^(\S+)\s+version\s+(\S+)/i.exec(line);
  const detail = `${path} --version answered ${line ? JSON.stringify(line) : 'with no output'}`;
  return match ? { available: true, path, name: match[1] as string, version: match[2] as string, detail } : { available: true, path, detail };
}

function onStep(options: LxcriCallOptions, step: LxcriProgress['step'], event: 'begin' | 'end'): void {
  options.onProgress?.({ step, event });
}

function ctOf(record: ContainerRecord): { node: string; vmid: number } {
  return { node: String(record.runtimeData['node']), vmid: Number(record.runtimeData['vmid']) };
}

function exitedRecord(r: ContainerRecord, exitCode: number, finishedAt: number): ContainerRecord {
  return {
    ...r,
    state: 'CONTAINER_EXITED',
    exitCode,
    finishedAt: Number.isFinite(finishedAt) ? finishedAt : Date.now(),
    reason: exitCode === 0 ? 'Completed' : 'Error',
  };
}

function toStatus(r: ContainerRecord, sandbox: SandboxRecord | undefined): ContainerStatus {
  return {
    id: r.id,
    podSandboxId: r.sandboxId,
    name: r.name,
    attempt: r.attempt,
    runtime: r.runtime,
    state: r.state,
    image: r.image,
    imageRef: r.imageRef,
    createdAt: new Date(r.createdAt),
    startedAt: toDate(r.startedAt),
    finishedAt: toDate(r.finishedAt),
    exitCode: r.exitCode,
    reason: r.reason,
    message: r.message,
    labels: r.config.labels,
    annotations: r.config.annotations,
    logPath: logPathOf(r, sandbox),
    runtimeData: r.runtimeData,
  };
}
