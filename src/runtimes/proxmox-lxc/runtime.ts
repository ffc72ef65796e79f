/**
 * `ProxmoxLxcRuntime`: a CRI container as a Proxmox VE LXC container. An OCI image becomes a CT
 * template (PVE ≥ 9.1: the image itself as an OCI archive; PVE 8.x: its flattened rootfs as a
 * `.tar.gz`), cached on the template storage per image digest; the CRI request becomes CT
 * parameters (docs/proxmox-lxc.md); any failure after the CT exists destroys it.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { NormalizedCreateContainerRequest } from '../../cri/types.js';
import {
  AbortedError,
  AlreadyExistsError,
  FailedPreconditionError,
  LxcriError,
  NotFoundError,
  ProxmoxHttpError,
  ProxmoxNetworkError,
  ProxmoxOutcomeUnknownError,
  ProxmoxTimeoutError,
  isLxcriError,
  throwIfAborted,
} from '../../errors.js';
import { sleep } from '../../internal/sleep.js';
import type { Logger } from '../../logger.js';
import type { ResolvedImage } from '../../oci/image/layout.js';
import type { RootfsHandle } from '../../oci/layers/layer-cache.js';
import type { LayerProgress } from '../../oci/layers/unpack-image.js';
import { buildRuntimeSpec } from '../../oci/spec/build.js';
import type { OciProcess } from '../../oci/spec/runtime-spec.js';
import { readImageUserDb } from '../../oci/spec/user-db.js';
import { intLike } from '../../proxmox/api/endpoint.js';
import type { LxcConfig } from '../../proxmox/api/lxc.js';
import type { ProxmoxClient } from '../../proxmox/client.js';
import { normalizeContentFilename } from '../../proxmox/api/storage.js';
import { isVmidConflict } from '../../proxmox/vmid.js';
import { buildCtParams, formatEntrypoint, LXCRI_TAG, parseMarker, type CtParams, type LxcMarker } from './ct-params.js';
import { writeOciArchive } from './oci-archive.js';
import { resolveProxmoxLxcRuntimeOptions, type ProxmoxLxcRuntimeOptions, type ResolvedProxmoxLxcRuntimeOptions } from './options.js';
import type { LxcProgress } from './progress.js';
import { generateInitScript, inspectRootfs, writeRootfsTemplate } from './rootfs-template.js';

/** A CT made by the runtime. */
export interface LxcContainerRef {
  node: string;
  vmid: number;
}

/** Options of {@link ProxmoxLxcRuntime.create}. */
export interface LxcCreateOptions {
  /** The CRI container id (recorded in the description marker). */
  containerId: string;
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: LxcProgress) => void) | undefined;
}

/** What {@link ProxmoxLxcRuntime.create} made. */
export interface LxcCreateResult extends LxcContainerRef {
  templateVolid: string;
  mode: 'oci' | 'rootfs';
}

/** CRI state of a CT. */
export interface LxcContainerStatus {
  state: 'created' | 'running' | 'exited' | 'unknown';
  startedAt?: Date;
  finishedAt?: Date;
  exitCode?: number;
  /** PVE's `status` (`running`, `stopped`), with the lock when there is one (`stopped (lock: create)`). */
  pveStatus?: string;
}

/** A CT found by {@link ProxmoxLxcRuntime.list}. */
export interface LxcContainerInfo extends LxcContainerRef {
  containerId: string;
  name: string;
  attempt: number;
  sandboxId: string;
  imageDigest: string;
  templateVolid: string;
  mode: 'oci' | 'rootfs';
  /** PVE's `status`. */
  pveStatus: string;
  lock?: string;
}

/** Per-call options of the lifecycle verbs. */
export interface LxcCallOptions {
  signal?: AbortSignal | undefined;
}

/** Entries of `GET /nodes/{node}/tasks` the status mapping reads. */
const taskListSchema = z.array(z.looseObject({ type: z.string().optional(), starttime: intLike.optional(), endtime: intLike.optional(), status: z.string().optional() }));

const isMissingCt = (error: unknown): boolean =>
  error instanceof ProxmoxHttpError && (/does not exist/i.test(error.statusText) || /does not exist/i.test(error.pveMessage ?? ''));
const isNotRunning = (error: unknown): boolean => error instanceof ProxmoxHttpError && /not running/i.test(error.statusText);
const isAlreadyRunning = (error: unknown): boolean => error instanceof ProxmoxHttpError && /already running/i.test(error.statusText);

/** Parses `9.1.2` / `8.4.0` into a comparable number (9.01, 8.04). */
function versionNumber(version: string): number {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return m ? Number(m[1]) + Number(m[2]) / 100 : 0;
}

/** The first 16 hex digits of a digest's hash. */
const shortDigest = (digest: string): string => (digest.split(':')[1] ?? digest).slice(0, 16);

/** Adds the rollback outcome to the error that made the create fail (same code and gRPC status). */
function withCleanup(error: unknown, vmid: number, outcome: string): LxcriError {
  const base = isLxcriError(error) ? error : new LxcriError('ERR_INTERNAL', error instanceof Error ? error.message : String(error), {}, { cause: error });
  return new LxcriError(base.code, `${base.message} (rollback: CT ${vmid} ${outcome})`, { ...base.details, rollback: { vmid, outcome } }, { cause: error, grpcStatus: base.grpcStatus });
}

/**
 * Creates and drives Proxmox VE LXC containers for CRI containers.
 *
 * @example
 * ```ts
 * const runtime = new ProxmoxLxcRuntime(client, { storages: { template: 'local', rootfs: 'local-lvm' }, bridge: 'vmbr0', layerCache });
 * const image = await (await openImageLayout('./layout')).resolve('app:1');
 * const ct = await runtime.create(request, image, { containerId: 'c1' });
 * await runtime.start(ct);
 * ```
 */
export class ProxmoxLxcRuntime {
  readonly options: ResolvedProxmoxLxcRuntimeOptions;
  readonly #client: ProxmoxClient;
  readonly #logger: Logger;
  /** Template builds in flight, by `node/storage/name`: one build and upload per template. */
  readonly #templates = new Map<string, Promise<string>>();
  /** What PVE told us recently (see the `cacheTtlMs` option). */
  readonly #known = new Map<string, { value: string; at: number }>();
  #version: Promise<number> | undefined;

  constructor(client: ProxmoxClient, options?: ProxmoxLxcRuntimeOptions) {
    this.#client = client;
    this.options = resolveProxmoxLxcRuntimeOptions(options);
    this.#logger = this.options.logger;
  }

  /** `oci` on PVE ≥ 9.1, `rootfs` below (or the `mode` option). */
  async modeFor(signal?: AbortSignal): Promise<'oci' | 'rootfs'> {
    if (this.options.mode !== 'auto') return this.options.mode;
    this.#version ??= this.#client.version.get(signal ? { signal } : {}).then((v) => versionNumber(v.version));
    const version = await this.#version.catch((error: unknown) => {
      this.#version = undefined;
      throw error;
    });
    return version >= 9.01 ? 'oci' : 'rootfs';
  }

  /**
   * Creates a CT for a CRI container (not started). Steps: mode, node, storages, template (cached),
   * VMID + create task, then (OCI mode) the CRI process through `PUT …/config`.
   * @throws {@link FailedPreconditionError} when the image or request cannot run in the chosen mode
   */
  async create(request: NormalizedCreateContainerRequest, image: ResolvedImage, options: LxcCreateOptions): Promise<LxcCreateResult> {
    const { signal, onProgress, containerId } = options;
    throwIfAborted(signal, 'creating the CT');
    const mode = await this.modeFor(signal);

    const paramsFor = (templateVolid: string, ostype: string | undefined): CtParams =>
      buildCtParams(request, {
        options: this.options,
        containerId,
        imageDigest: image.manifestDigest,
        templateVolid,
        mode,
        architecture: image.config.architecture,
        variant: image.config.variant,
        ostype,
      });
    // everything that can be refused is checked before a template is built or uploaded
    paramsFor(`${this.options.storages.template}:vztmpl/check.tar`, undefined);
    let ociConfig: { entrypoint: string; env: Record<string, string> } | undefined;
    if (mode === 'oci') {
      const proc = this.#ociProcess(request, image, containerId);
      const env: Record<string, string> = {};
      for (const entry of proc.env ?? []) {
        const eq = entry.indexOf('=');
        env[entry.slice(0, eq)] = entry.slice(eq + 1);
      }
      ociConfig = { entrypoint: formatEntrypoint(proc.args ?? []), env };
    }

    onProgress?.({ phase: 'placement' });
    const node = await this.#placement(signal);

    let templateVolid: string;
    let ostype: string | undefined;
    if (mode === 'oci') {
      templateVolid = await this.#ociTemplate(node, image, signal, onProgress);
    } else {
      ({ templateVolid, ostype } = await this.#rootfsTemplate(node, request, image, containerId, signal, onProgress));
    }

    const params = paramsFor(templateVolid, ostype);
    onProgress?.({ phase: 'create' });
    // a failed create may mean the node, a storage or the template changed: ask PVE next time
    const vmid = await this.#createCt(node, params, containerId, signal, onProgress).catch((error: unknown) => {
      this.#known.clear();
      throw error;
    });
    if (ociConfig) {
      try {
        onProgress?.({ phase: 'configure' });
        await this.#client.lxc.updateConfig(node, vmid, ociConfig, signal ? { signal } : {});
      } catch (error) {
        throw await this.#rollback(node, vmid, error);
      }
    }
    this.#logger.info({ node, vmid, containerId, templateVolid, mode }, 'CT created');
    return { node, vmid, templateVolid, mode };
  }

  // -------------------------------------------------------------------------------------------
  // placement and templates

  async #placement(signal: AbortSignal | undefined): Promise<string> {
    const known = this.#recent('placement');
    if (known !== undefined) return known;
    return this.#remember('placement', await this.#choosePlacement(signal));
  }

  async #choosePlacement(signal: AbortSignal | undefined): Promise<string> {
    const { template, rootfs } = this.options.storages;
    const call = signal ? { signal } : {};
    const node =
      this.options.node ??
      (await this.#client.choosePlacement({ storage: rootfs, content: ['rootdir'], ...(this.options.nodes ? { nodes: this.options.nodes } : {}) }, call)).node;
    const storages = await this.#client.storage.list(node, call);
    const check = (id: string, content: string): void => {
      const s = storages.find((x) => x.storage === id);
      if (!s) throw new FailedPreconditionError(`storage ${id} is not available on node ${node}`, { node, storage: id });
      if (s.enabled === false || s.active === false) throw new FailedPreconditionError(`storage ${id} is not active on node ${node}`, { node, storage: id });
      const has = (s.content ?? '').split(',').map((c) => c.trim());
      if (!has.includes(content)) throw new FailedPreconditionError(`storage ${id} on node ${node} does not allow ${content} content`, { node, storage: id, content });
    };
    check(template, 'vztmpl');
    check(rootfs, 'rootdir');
    return node;
  }

  /** Finds the first template whose volid `match`es (in the order of `match`), or `undefined`. */
  async #findTemplate(node: string, match: readonly RegExp[], signal: AbortSignal | undefined): Promise<string | undefined> {
    const storage = this.options.storages.template;
    const content = await this.#client.storage.content(node, storage, { content: 'vztmpl', ...(signal ? { signal } : {}) });
    for (const re of match) {
      const hit = content.find((c) => c.volid.startsWith(`${storage}:vztmpl/`) && re.test(c.volid.slice(storage.length + 8)));
      if (hit) return hit.volid;
    }
    return undefined;
  }

  /**
   * Runs `produce` once per template key in this process: concurrent creates of one image wait
   * for the same build and upload.
   */
  #once(key: string, produce: () => Promise<string>): Promise<string> {
    const known = this.#recent(key);
    if (known !== undefined) return Promise.resolve(known);
    const existing = this.#templates.get(key);
    if (existing) return existing;
    const promise = produce()
      .then((value) => this.#remember(key, value))
      .finally(() => this.#templates.delete(key));
    this.#templates.set(key, promise);
    return promise;
  }

  /** A value learnt from PVE less than `cacheTtlMs` ago (placement, a template's volid), or `undefined`. */
  #recent(key: string): string | undefined {
    const hit = this.#known.get(key);
    if (hit && Date.now() - hit.at < this.options.cacheTtlMs) return hit.value;
    this.#known.delete(key);
    return undefined;
  }

  #remember(key: string, value: string): string {
    if (this.options.cacheTtlMs > 0) this.#known.set(key, { value, at: Date.now() });
    return value;
  }

  async #upload(node: string, path: string, filename: string, signal: AbortSignal | undefined, onProgress: LxcCreateOptions['onProgress']): Promise<string> {
    const storage = this.options.storages.template;
    const { upid, volid } = await this.#client.storage.upload(node, storage, {
      content: 'vztmpl',
      source: { path },
      filename,
      checksum: 'sha256',
      timeoutMs: this.options.timeouts.uploadMs,
      ...(signal ? { signal } : {}),
      ...(onProgress ? { onProgress: (p) => onProgress({ phase: 'upload', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }) } : {}),
    });
    onProgress?.({ phase: 'template-task', upid });
    await this.#client.tasks.wait(upid, { timeoutMs: this.options.timeouts.uploadMs, ...(signal ? { signal } : {}) });
    return volid;
  }

  async #tempPath(suffix: string): Promise<string> {
    await mkdir(this.options.workDir, { recursive: true, mode: 0o700 });
    // the pid tells another process's reconcile whether the writer is still alive
    return join(this.options.workDir, `${randomBytes(8).toString('hex')}-${process.pid}${suffix}`);
  }

  async #ociTemplate(node: string, image: ResolvedImage, signal: AbortSignal | undefined, onProgress: LxcCreateOptions['onProgress']): Promise<string> {
    const base = `lxcri-${shortDigest(image.manifestDigest)}`;
    const name = `${base}.tar`;
    const storage = this.options.storages.template;
    return this.#once(`${node}/${storage}/${name}`, async () => {
      onProgress?.({ phase: 'template-lookup' });
      const found = await this.#findTemplate(node, [new RegExp(`^${name.replace(/\./g, '\\.')}$`)], signal);
      if (found) return found;
      if (this.options.templateSource === 'registry') return this.#registryPull(node, image, base, signal, onProgress);
      const path = await this.#tempPath('.tar');
      try {
        await writeOciArchive(image, path, { signal, onProgress });
        return await this.#upload(node, path, name, signal, onProgress);
      } finally {
        await rm(path, { force: true });
      }
    });
  }

  async #registryPull(node: string, image: ResolvedImage, base: string, signal: AbortSignal | undefined, onProgress: LxcCreateOptions['onProgress']): Promise<string> {
    const reference = image.reference;
    if (!/^(?:[\w.-]+(?::\d+)?\/)?[\w.-]+(?:\/[\w.-]+)*:[\w][\w.-]{0,127}$/.test(reference)) {
      throw new FailedPreconditionError(`templateSource 'registry' needs a registry reference with a tag (PVE's oci-registry-pull takes no digest), got ${JSON.stringify(reference)}`, { reference });
    }
    const storage = this.options.storages.template;
    const upid = await this.#client.request<string>('POST', `/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(storage)}/oci-registry-pull`, { reference, filename: base }, {
      idempotent: false,
      timeoutMs: this.options.timeouts.uploadMs,
      ...(signal ? { signal } : {}),
    });
    onProgress?.({ phase: 'template-task', upid });
    await this.#client.tasks.wait(upid, { timeoutMs: this.options.timeouts.uploadMs, ...(signal ? { signal } : {}) });
    return `${storage}:vztmpl/${normalizeContentFilename(base)}.tar`;
  }

  async #rootfsTemplate(
    node: string,
    request: NormalizedCreateContainerRequest,
    image: ResolvedImage,
    containerId: string,
    signal: AbortSignal | undefined,
    onProgress: LxcCreateOptions['onProgress'],
  ): Promise<{ templateVolid: string; ostype: string }> {
    const cache = this.options.layerCache;
    if (!cache) throw new FailedPreconditionError('rootfs mode (PVE 8.x) needs the layerCache option to flatten the image', { option: 'layerCache' });
    const base = `lxcri-${shortDigest(image.manifestDigest)}`;
    // an application image's template carries the generated /sbin/init, i.e. the CRI process
    const sc = request.config.linux.securityContext;
    const processKey = createHash('sha256')
      .update(
        JSON.stringify([
          request.config.command,
          request.config.args,
          request.config.workingDir,
          request.config.envs,
          request.config.tty,
          sc.runAsUser?.value ?? null,
          sc.runAsUsername,
          sc.runAsGroup?.value ?? null,
          sc.supplementalGroups,
          sc.supplementalGroupsPolicy,
        ]),
      )
      .digest('hex')
      .slice(0, 8);
    // names carry the ostype, so a cached template needs no flattening to know it:
    // lxcri-<digest>-<ostype>.tar.gz (an image with its own init) or lxcri-<digest>-<process>-<ostype>.tar.gz
    const systemRe = new RegExp(`^${base}-([a-z]+)\\.tar\\.gz$`);
    const appRe = new RegExp(`^${base}-${processKey}-([a-z]+)\\.tar\\.gz$`);
    const storage = this.options.storages.template;
    const volid = await this.#once(`${node}/${storage}/${base}-${processKey}`, async () => {
      onProgress?.({ phase: 'template-lookup' });
      const found = await this.#findTemplate(node, [systemRe, appRe], signal);
      if (found) return found;
      const target = await this.#tempPath('.rootfs');
      let handle: RootfsHandle | undefined;
      const path = await this.#tempPath('.tar.gz');
      try {
        onProgress?.({ phase: 'rootfs' });
        handle = await cache.createRootfs(image, target, {
          mode: this.options.rootfsMode,
          ...(signal ? { signal } : {}),
          ...(onProgress ? { onProgress: (p) => onProgress({ phase: 'rootfs', ...layerProgress(p) }) } : {}),
        });
        const inspection = await inspectRootfs(handle.path, signal);
        const inject = new Map<string, { content: string; mode: number }>();
        let name = `${base}-${inspection.ostype}.tar.gz`;
        if (inspection.initPath !== undefined) {
          if (!inspection.hasShell) {
            throw new FailedPreconditionError(
              `image ${image.reference} has neither /sbin/init nor /bin/sh: PVE 8.x cannot run it as a CT (rootfs mode needs a shell for the generated init); PVE 9.1's OCI mode runs such images`,
              { image: image.reference },
            );
          }
          const userDb = await readImageUserDb(handle.path, signal ? { signal } : {});
          const proc = this.#processOf(request, image, containerId, userDb);
          // HOSTNAME is left out: the template is shared by pods, and PVE sets each CT's hostname
          inject.set(inspection.initPath, { content: generateInitScript({ ...proc, env: (proc.env ?? []).filter((e) => !e.startsWith('HOSTNAME=')) }), mode: 0o755 });
          name = `${base}-${processKey}-${inspection.ostype}.tar.gz`;
        }
        // the attr tools are needed only when a layer carries xattrs (the cache knows which do)
        const readXattrs = (await cache.ensureLayers(image, signal ? { signal } : {})).some((layer) => layer.hasXattrs);
        await writeRootfsTemplate(handle.path, path, { rootless: process.getuid?.() !== 0, readXattrs, inject, gzipLevel: this.options.gzipLevel, signal, onProgress });
        await handle.release();
        handle = undefined;
        return await this.#upload(node, path, name, signal, onProgress);
      } finally {
        await handle?.release().catch((error: unknown) => this.#logger.warn({ error: String(error) }, 'releasing the template rootfs failed'));
        await rm(path, { force: true });
        await rm(target, { recursive: true, force: true }).catch(() => undefined);
      }
    });
    const ostype = /-([a-z]+)\.tar\.gz$/.exec(volid)?.[1] ?? 'unmanaged';
    return { templateVolid: volid, ostype };
  }

  /** The CRI process from `buildRuntimeSpec` (command, args, env, cwd, user). */
  #processOf(request: NormalizedCreateContainerRequest, image: ResolvedImage, containerId: string, userDb: { passwd?: string | undefined; group?: string | undefined }): OciProcess {
    // Only the process is used: mounts, devices and security profiles are mapped to CT parameters
    // (or refused) elsewhere, so they are left out of the spec build.
    const sc = request.config.linux.securityContext;
    const stripped: NormalizedCreateContainerRequest = {
      ...request,
      config: {
        ...request.config,
        mounts: [],
        devices: [],
        CDIDevices: [],
        linux: { ...request.config.linux, securityContext: { ...sc, seccomp: undefined, apparmor: undefined, seccompProfilePath: '', apparmorProfile: '', namespaceOptions: { ...sc.namespaceOptions, pid: 'CONTAINER', targetId: '' } } },
      },
    };
    const spec = buildRuntimeSpec(stripped, image.config, {
      containerId: specId(containerId),
      userDb: { ...(userDb.passwd === undefined ? {} : { passwd: userDb.passwd }), ...(userDb.group === undefined ? {} : { group: userDb.group }) },
    });
    if (!spec.process) throw new FailedPreconditionError('the runtime spec has no process', {});
    return spec.process;
  }

  /**
   * OCI mode: PVE sets the user (`User`) and cwd (`WorkingDir`) from the image and its API has no
   * key for either, so a CRI user or working directory other than the image's is refused.
   */
  #ociProcess(request: NormalizedCreateContainerRequest, image: ResolvedImage, containerId: string): OciProcess {
    const sc = request.config.linux.securityContext;
    if (sc.runAsUser !== undefined || sc.runAsUsername !== '' || sc.runAsGroup !== undefined) {
      throw new FailedPreconditionError(
        'PVE 9.1 OCI mode cannot run the container as a CRI-given user (runAsUser/runAsUsername/runAsGroup): PVE takes the user from the image config and its API has no user key; set User in the image or use rootfs mode',
        { field: 'config.linux.securityContext.runAsUser' },
      );
    }
    const imageCwd = image.config.config?.WorkingDir ? image.config.config.WorkingDir : '/';
    if (request.config.workingDir !== '' && request.config.workingDir.replace(/\/+$/, '') !== imageCwd.replace(/\/+$/, '')) {
      throw new FailedPreconditionError(
        `PVE 9.1 OCI mode cannot set the working directory ${request.config.workingDir}: PVE takes it from the image (WorkingDir ${imageCwd}) and its API has no cwd key; use rootfs mode or change the image`,
        { field: 'config.workingDir' },
      );
    }
    // PVE resolves the image's User itself; leave it out so a user name needs no passwd here
    const imageConfig = { ...image.config, config: { ...(image.config.config ?? {}), User: '' } };
    const proc = this.#processOf(request, { ...image, config: imageConfig }, containerId, {});
    for (const entry of proc.env ?? []) {
      const key = entry.slice(0, entry.indexOf('='));
      if (!/^\w+$/.test(key)) throw new FailedPreconditionError(`environment variable ${JSON.stringify(key)}: PVE's env key only takes names matching \\w+`, { key });
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      if (/[\0-\x08\x0a-\x1f\x7f]/.test(entry)) throw new FailedPreconditionError(`environment variable ${key}: PVE's env key refuses control characters`, { key });
    }
    return proc;
  }

  // -------------------------------------------------------------------------------------------
  // create, rollback

  async #createCt(node: string, params: CtParams, containerId: string, signal: AbortSignal | undefined, onProgress: LxcCreateOptions['onProgress']): Promise<number> {
    const post = async (vmid: number, s: AbortSignal | undefined): Promise<string | undefined> => {
      try {
        return await this.#client.lxc.create(node, { ...params, vmid }, s ? { signal: s } : {});
      } catch (error) {
        if (error instanceof ProxmoxHttpError && error.status === 403 && /mount point type/i.test(error.statusText) && params.mp) {
          throw new FailedPreconditionError(
            `CRI mounts become PVE bind mount points (mp[n]), which only the user root@pam may create (an API token of root@pam is not root@pam): ${error.statusText}`,
            { node, rule: 'bind mount points are root@pam only' },
            { cause: error },
          );
        }
        if (!(error instanceof ProxmoxNetworkError || error instanceof ProxmoxTimeoutError || error instanceof ProxmoxOutcomeUnknownError)) throw error;
        // The answer was lost: the CT may exist. Never create again before knowing.
        if (await this.#recoverLostCreate(node, vmid, containerId, signal)) return undefined;
        throw error;
      }
    };
    let vmid: number;
    let upid: string | undefined;
    if (this.options.vmidRange) {
      ({ vmid, upid } = await this.#allocateInRange(post, signal));
    } else {
      const allocation = await this.#client.allocateVmid((id, s) => post(id, s), { maxAttempts: this.options.vmidAttempts, ...(signal ? { signal } : {}) });
      vmid = allocation.vmid;
      upid = allocation.result;
    }
    if (upid === undefined) return vmid; // recovered after a lost answer: the CT is ours and complete
    try {
      onProgress?.({ phase: 'create', upid });
      await this.#client.tasks.wait(upid, { timeoutMs: this.options.timeouts.createMs, ...(signal ? { signal } : {}) });
    } catch (error) {
      throw await this.#rollback(node, vmid, error);
    }
    return vmid;
  }

  async #allocateInRange(
    post: (vmid: number, signal: AbortSignal | undefined) => Promise<string | undefined>,
    signal: AbortSignal | undefined,
  ): Promise<{ vmid: number; upid: string | undefined }> {
    const range = this.options.vmidRange as { min: number; max: number };
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.options.vmidAttempts; attempt++) {
      throwIfAborted(signal, 'VMID allocation');
      const candidate = range.min + Math.floor(Math.random() * (range.max - range.min + 1));
      try {
        await this.#client.cluster.nextid({ vmid: candidate, ...(signal ? { signal } : {}) });
        return { vmid: candidate, upid: await post(candidate, signal) };
      } catch (error) {
        if (!isVmidConflict(error)) throw error;
        lastError = error;
      }
    }
    throw new AlreadyExistsError(`no free VMID in ${range.min}-${range.max} after ${this.options.vmidAttempts} attempts`, { ...range }, { cause: lastError });
  }

  /**
   * After a lost answer to the create POST: waits until the CT `vmid` is unlocked and checks its
   * description marker. True when the CT exists and is this container's.
   */
  async #recoverLostCreate(node: string, vmid: number, containerId: string, signal: AbortSignal | undefined): Promise<boolean> {
    const deadline = Date.now() + this.options.timeouts.createMs;
    this.#logger.warn({ node, vmid, containerId }, 'answer to the create request was lost; looking the CT up by its marker');
    for (;;) {
      throwIfAborted(signal, 'recovering a lost create');
      let config: LxcConfig;
      try {
        config = await this.#client.lxc.config(node, vmid, signal ? { signal } : {});
      } catch (error) {
        if (isMissingCt(error)) return false;
        throw error;
      }
      if (config['lock'] !== 'create') {
        const marker = parseMarker(config['description']);
        return marker?.containerId === containerId;
      }
      if (Date.now() > deadline) return false;
      await sleep(this.options.pollMs, signal, 'aborted while waiting');
    }
  }

  /** Destroys a CT that a failed create left; returns the original error with the outcome. */
  async #rollback(node: string, vmid: number, error: unknown): Promise<LxcriError> {
    let outcome: string;
    try {
      const exists = await this.#client.lxc.status(node, vmid).then(
        () => true,
        (e: unknown) => (isMissingCt(e) ? false : Promise.reject(e)),
      );
      if (!exists) {
        outcome = 'was not left behind';
      } else {
        await this.#waitUnlocked({ node, vmid }, undefined);
        await this.#destroy(node, vmid, undefined);
        outcome = 'destroyed';
      }
    } catch (cleanupError) {
      outcome = `could not be destroyed: ${cleanupError instanceof Error ? cleanupError.message : String(cleanupError)}`;
      this.#logger.error({ node, vmid, error: outcome }, 'rollback of a failed create failed');
    }
    this.#logger.warn({ node, vmid, outcome, error: error instanceof Error ? error.message : String(error) }, 'create failed; rolled back');
    return withCleanup(error, vmid, outcome);
  }

  async #destroy(node: string, vmid: number, signal: AbortSignal | undefined): Promise<void> {
    let upid: string;
    try {
      upid = await this.#client.lxc.destroy(node, vmid, { purge: true, force: true, ...(signal ? { signal } : {}) });
    } catch (error) {
      if (isMissingCt(error)) return;
      throw error;
    }
    await this.#client.tasks.wait(upid, { timeoutMs: this.options.timeouts.taskMs, ...(signal ? { signal } : {}) });
  }

  /** Polls the CT until it has no lock (a create or another task holds it). */
  async #waitUnlocked(ct: LxcContainerRef, signal: AbortSignal | undefined): Promise<void> {
    const deadline = Date.now() + this.options.timeouts.taskMs;
    for (;;) {
      const status = await this.#client.lxc.status(ct.node, ct.vmid, signal ? { signal } : {});
      if (!status.lock) return;
      if (Date.now() > deadline) throw new FailedPreconditionError(`CT ${ct.vmid} is still locked (${status.lock}) after ${this.options.timeouts.taskMs} ms`, { ...ct, lock: status.lock });
      await sleep(this.options.pollMs, signal, 'aborted while waiting');
    }
  }

  // -------------------------------------------------------------------------------------------
  // lifecycle

  /** Starts the CT, after its create lock has cleared. A running CT is left as it is. */
  async start(ct: LxcContainerRef, options: LxcCallOptions = {}): Promise<void> {
    const { signal } = options;
    try {
      await this.#waitUnlocked(ct, signal);
      const upid = await this.#client.lxc.start(ct.node, ct.vmid, signal ? { signal } : {});
      await this.#client.tasks.wait(upid, { timeoutMs: this.options.timeouts.taskMs, ...(signal ? { signal } : {}) });
    } catch (error) {
      if (isAlreadyRunning(error)) return;
      if (isMissingCt(error)) throw new NotFoundError(`CT ${ct.vmid} does not exist on node ${ct.node}`, { ...ct }, { cause: error });
      throw error;
    }
  }

  /** Shuts the CT down within `timeoutSeconds`, then stops it hard. A stopped or missing CT is success. */
  async stop(ct: LxcContainerRef, timeoutSeconds: number, options: LxcCallOptions = {}): Promise<void> {
    const { signal } = options;
    const call = signal ? { signal } : {};
    try {
      const status = await this.#client.lxc.status(ct.node, ct.vmid, call);
      if (status.status !== 'running') return;
      if (timeoutSeconds > 0) {
        try {
          const upid = await this.#client.lxc.shutdown(ct.node, ct.vmid, { timeout: Math.ceil(timeoutSeconds), ...call });
          await this.#client.tasks.wait(upid, { timeoutMs: (Math.ceil(timeoutSeconds) + 30) * 1000, ...call });
          return;
        } catch (error) {
          if (isNotRunning(error)) return;
          if (error instanceof AbortedError) throw error;
          this.#logger.info({ ...ct, error: error instanceof Error ? error.message : String(error) }, 'shutdown did not finish; stopping the CT');
        }
      }
      const upid = await this.#client.lxc.stop(ct.node, ct.vmid, call);
      await this.#client.tasks.wait(upid, { timeoutMs: this.options.timeouts.taskMs, ...call });
    } catch (error) {
      if (isNotRunning(error) || isMissingCt(error)) return;
      throw error;
    }
  }

  /**
   * CRI state: `running`; `created` (never started, or still being created); `exited` (stopped
   * after a start: times from the start and stop tasks, no exit code — PVE keeps none); `unknown`
   * for other PVE states and for a CT that does not exist (`pveStatus: 'missing'`).
   */
  async status(ct: LxcContainerRef, options: LxcCallOptions = {}): Promise<LxcContainerStatus> {
    const call = options.signal ? { signal: options.signal } : {};
    let current;
    try {
      current = await this.#client.lxc.status(ct.node, ct.vmid, call);
    } catch (error) {
      // a CT that is gone (removed, or never made) is not an error here: the facade reconciles with it
      if (isMissingCt(error)) return { state: 'unknown', pveStatus: 'missing' };
      throw error;
    }
    const pveStatus = current.lock ? `${current.status} (lock: ${current.lock})` : current.status;
    if (current.status === 'running') {
      const uptime = current.uptime ?? 0;
      return { state: 'running', startedAt: new Date(Date.now() - uptime * 1000), pveStatus };
    }
    if (current.status !== 'stopped') return { state: 'unknown', pveStatus };
    if (current.lock === 'create') return { state: 'created', pveStatus };
    const tasks = await this.#client.request('GET', `/nodes/${encodeURIComponent(ct.node)}/tasks`, { vmid: ct.vmid, source: 'all', limit: 50 }, { ...call, response: taskListSchema });
    // newest first (PVE sorts by start time, then pid); a VMID can be reused, so only tasks
    // listed before this CT's create task count
    const createdAt = tasks.findIndex((t) => t.type === 'vzcreate');
    const recent = createdAt === -1 ? tasks : tasks.slice(0, createdAt);
    const startAt = recent.findIndex((t) => t.type === 'vzstart' && t.status === 'OK');
    const lastStart = recent[startAt];
    if (!lastStart) return { state: 'created', pveStatus };
    const lastStop = recent.slice(0, startAt).find((t) => (t.type === 'vzstop' || t.type === 'vzshutdown') && t.status === 'OK');
    return {
      state: 'exited',
      ...(lastStart.starttime ? { startedAt: new Date(lastStart.starttime * 1000) } : {}),
      ...(lastStop?.endtime ? { finishedAt: new Date(lastStop.endtime * 1000) } : {}),
      pveStatus,
    };
  }

  /** Destroys the CT with `purge=1` (stopping it first). A missing CT is success. */
  async remove(ct: LxcContainerRef, options: LxcCallOptions = {}): Promise<void> {
    try {
      await this.#waitUnlocked(ct, options.signal);
    } catch (error) {
      if (isMissingCt(error)) return;
      throw error;
    }
    await this.#destroy(ct.node, ct.vmid, options.signal);
  }

  /** Whether `node` is one the runtime uses (the `node` option, else the `nodes` option, else any). */
  #onOurNodes(node: string): boolean {
    if (this.options.node !== undefined) return node === this.options.node;
    return this.options.nodes === undefined || this.options.nodes.includes(node);
  }

  /** CTs made by the runtime (tag `lxcri` and a description marker), on every node or the configured ones. */
  async list(options: LxcCallOptions = {}): Promise<LxcContainerInfo[]> {
    const call = options.signal ? { signal: options.signal } : {};
    const resources = await this.#client.cluster.resources({ type: 'vm', ...call });
    const candidates = resources.filter(
      (r) =>
        r.type === 'lxc' &&
        r.node !== undefined &&
        r.vmid !== undefined &&
        this.#onOurNodes(r.node as string) &&
        (r.tags ?? '').split(/[;, ]/).includes(LXCRI_TAG),
    );
    const out: LxcContainerInfo[] = [];
    for (const r of candidates) {
      const node = r.node as string;
      const vmid = r.vmid as number;
      let config: LxcConfig;
      try {
        config = await this.#client.lxc.config(node, vmid, call);
      } catch (error) {
        if (isMissingCt(error)) continue;
        throw error;
      }
      const marker: LxcMarker | undefined = parseMarker(config['description']);
      if (!marker) continue;
      out.push({
        node,
        vmid,
        containerId: marker.containerId,
        name: marker.name,
        attempt: marker.attempt,
        sandboxId: marker.sandboxId,
        imageDigest: marker.imageDigest,
        templateVolid: marker.template,
        mode: marker.mode,
        pveStatus: r.status ?? 'unknown',
        ...(typeof config['lock'] === 'string' ? { lock: config['lock'] } : {}),
      });
    }
    return out;
  }

  /**
   * Removes `lxcri-*` templates no CT of the runtime was made from (per the markers) and not being
   * built now: those older than `olderThan` ms, keeping the `keep` newest.
   */
  async pruneTemplates(options: { olderThan?: number; keep?: number; signal?: AbortSignal } = {}): Promise<{ removed: string[] }> {
    const call = options.signal ? { signal: options.signal } : {};
    const storage = this.options.storages.template;
    const inUse = new Set((await this.list(call)).map((c) => c.templateVolid));
    const building = [...this.#templates.keys()].map((k) => k.split('/').pop() ?? '').filter((k) => k !== '');
    const nodes = this.options.node
      ? [this.options.node]
      : (await this.#client.nodes.list(call)).filter((n) => (n.status === undefined || n.status === 'online') && this.#onOurNodes(n.node)).map((n) => n.node);
    const removed: string[] = [];
    const now = Date.now();
    for (const node of nodes) {
      const content = await this.#client.storage.content(node, storage, { content: 'vztmpl', ...call });
      const unused = content
        .filter((c) => /^[^:]+:vztmpl\/lxcri-[0-9a-f]{16}(?:\.tar|(?:-[0-9a-f]{8})?-[a-z]+\.tar\.gz)$/.test(c.volid))
        .filter((c) => !inUse.has(c.volid) && !building.some((b) => c.volid.startsWith(`${storage}:vztmpl/${b}`)))
        .sort((a, b) => (b.ctime ?? 0) - (a.ctime ?? 0));
      const candidates = unused.slice(options.keep ?? 0).filter((c) => options.olderThan === undefined || (c.ctime ?? 0) * 1000 <= now - options.olderThan);
      for (const c of candidates) {
        const upid = await this.#client.storage.deleteContent(node, storage, c.volid, call);
        if (upid) await this.#client.tasks.wait(upid, { timeoutMs: this.options.timeouts.taskMs, ...call });
        removed.push(c.volid);
      }
    }
    return { removed };
  }
}

function layerProgress(p: LayerProgress): Omit<LxcProgress, 'phase'> {
  return { bytesDone: p.totalCompressedBytes, bytesTotal: p.totalCompressedSize, entriesDone: p.entries };
}

/** A container id usable in `buildRuntimeSpec` (`[A-Za-z0-9][A-Za-z0-9_.-]{0,127}`). */
function specId(containerId: string): string {
  const cleaned = containerId.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128);
  return cleaned === '' ? 'lxcri' : cleaned;
}

