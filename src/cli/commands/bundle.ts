import { basename, resolve } from 'node:path';
import { InMemoryContainerStore, InMemorySandboxStore } from '../../cri/store-memory.js';
import type { SandboxNamespacePaths, SandboxRecord } from '../../cri/types.js';
import { validateCreateContainerRequest, validatePodSandboxConfig } from '../../cri/validate.js';
import { openImageLayout } from '../../oci/image/layout.js';
import { writeBundle } from '../../oci/bundle/write-bundle.js';
import { LayerCache } from '../../oci/layers/layer-cache.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, readJsonFile, UsageError } from '../util.js';

const usage = `Usage: lxcri bundle --image DIR[:REF] --request REQUEST.json [--sandbox POD.json] --out BUNDLE [options]

Writes an OCI runtime bundle: BUNDLE/rootfs from the image (a private copy, or with --cache an
overlayfs mount over cached layers) and BUNDLE/config.json generated from the CRI request the way containerd's CRI plugin does
(user resolved in the image's /etc/passwd, capabilities, mounts, namespaces, seccomp, ...).
BUNDLE must not exist; it is created with mode 0700 and removed again if anything fails.
Run it with 'crun run --bundle BUNDLE ID' or 'runc run --bundle BUNDLE ID'.

REQUEST.json is a CRI CreateContainerRequest (proto-JSON or snake_case), or a crictl
container-config.json together with --sandbox.

Options:
  --image DIR[:REF]    the OCI image layout and the reference in it
  --request FILE       the CreateContainerRequest (or container config)
  --sandbox FILE       the pod: a PodSandboxConfig (crictl pod-config.json), or an object with
                       "config" and optional "id" and "namespacePaths" ({network, ipc, uts, pid,
                       user} namespace paths to join); replaces the request's sandboxConfig
  --out BUNDLE         the bundle directory to create
  --container-id ID    the container id used in cgroupsPath (default: the name of BUNDLE)
  --cache DIR          build the rootfs with the layer cache in DIR (layers extracted once)
  --rootfs-mode MODE   with --cache: overlay, copy or auto (default auto: overlay when root).
                       An overlay rootfs stays mounted: unmount BUNDLE/rootfs before removing it
  --platform P         platform to pick from an index (default linux/amd64)

Prints a JSON summary: { bundle, config, rootfs, rootfsMode, containerId, reference, manifestDigest }.`;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Splits `DIR[:REF]`: the reference is what follows the first ':' after the last '/'. */
function splitImageArg(value: string): { dir: string; ref?: string } {
  const slash = value.lastIndexOf('/');
  const colon = value.indexOf(':', slash + 1);
  if (colon === -1) return { dir: value };
  const ref = value.slice(colon + 1);
  return ref === '' ? { dir: value.slice(0, colon) } : { dir: value.slice(0, colon), ref };
}

/** `lxcri bundle`: image layout + CRI request → OCI bundle. */
export const bundleCommand: CliCommand = {
  name: 'bundle',
  summary: 'write an OCI bundle (rootfs + config.json) from an image and a CRI request',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      image: { type: 'string' },
      request: { type: 'string' },
      sandbox: { type: 'string' },
      out: { type: 'string' },
      'container-id': { type: 'string' },
      platform: { type: 'string' },
      cache: { type: 'string' },
      'rootfs-mode': { type: 'string' },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0] ?? ''}`);
    const image = values['image'];
    const requestFile = values['request'];
    const out = values['out'];
    if (typeof image !== 'string' || image === '') throw new UsageError('--image DIR[:REF] is required');
    if (typeof requestFile !== 'string' || requestFile === '') throw new UsageError('--request FILE is required');
    if (typeof out !== 'string' || out === '') throw new UsageError('--out BUNDLE is required');
    const bundleDir = resolve(io.cwd, out);
    const cacheDir = values['cache'];
    const rootfsMode = values['rootfs-mode'] ?? 'auto';
    if (rootfsMode !== 'auto' && rootfsMode !== 'overlay' && rootfsMode !== 'copy') throw new UsageError('--rootfs-mode must be overlay, copy or auto');
    if (values['rootfs-mode'] !== undefined && typeof cacheDir !== 'string') throw new UsageError('--rootfs-mode needs --cache DIR');
    const idFlag = values['container-id'];
    const containerId = typeof idFlag === 'string' ? idFlag : basename(bundleDir);

    const raw = await readJsonFile(io, requestFile, 'request');
    if (!isObject(raw)) throw new UsageError(`request ${requestFile} must hold a JSON object`);
    const sandboxFile = values['sandbox'];
    let sandboxConfigInput: unknown;
    let sandboxId: string | undefined;
    let namespacePaths: SandboxNamespacePaths = {};
    if (typeof sandboxFile === 'string') {
      const s = await readJsonFile(io, sandboxFile, 'sandbox file');
      if (!isObject(s)) throw new UsageError(`sandbox file ${sandboxFile} must hold a JSON object`);
      if ('config' in s) {
        sandboxConfigInput = s['config'];
        if (s['id'] !== undefined && typeof s['id'] !== 'string') throw new UsageError(`sandbox file ${sandboxFile}: id must be a string`);
        sandboxId = s['id'] as string | undefined;
        const paths = s['namespacePaths'];
        if (paths !== undefined && !isObject(paths)) throw new UsageError(`sandbox file ${sandboxFile}: namespacePaths must be an object`);
        namespacePaths = (paths ?? {}) as SandboxNamespacePaths;
      } else sandboxConfigInput = s;
    }
    const isFullRequest = ['config', 'sandboxConfig', 'sandbox_config', 'podSandboxId', 'pod_sandbox_id'].some((key) => key in raw);
    const input: Record<string, unknown> = isFullRequest ? { ...raw } : { config: raw };
    if (sandboxConfigInput !== undefined) {
      delete input['sandbox_config'];
      input['sandboxConfig'] = sandboxConfigInput;
    } else if (!isFullRequest) {
      throw new UsageError(`${requestFile} looks like a container config: give the pod with --sandbox POD.json`);
    } else {
      sandboxConfigInput = input['sandboxConfig'] ?? input['sandbox_config'] ?? {};
    }
    const podSandboxId = (input['podSandboxId'] ?? input['pod_sandbox_id'] ?? sandboxId ?? '') || 'lxcri-bundle-sandbox';
    delete input['pod_sandbox_id'];
    input['podSandboxId'] = podSandboxId;

    // The pod as RunPodSandbox would have stored it, so the request is checked like a real CreateContainer.
    const podConfig = validatePodSandboxConfig(sandboxConfigInput);
    const record: SandboxRecord = {
      id: String(podSandboxId),
      metadata: podConfig.metadata,
      config: podConfig,
      state: 'SANDBOX_READY',
      runtimeHandler: '',
      namespacePaths,
      createdAt: 0,
    };
    const request = await validateCreateContainerRequest(input, {
      sandboxes: new InMemorySandboxStore([record]),
      containers: new InMemoryContainerStore(),
      ...(io.signal ? { signal: io.signal } : {}),
    });

    const { dir, ref } = splitImageArg(image);
    const layout = await openImageLayout(resolve(io.cwd, dir));
    const platform = values['platform'];
    const resolved = await layout.resolve(ref, {
      ...(typeof platform === 'string' ? { platform } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
    });
    const bundle = await writeBundle(bundleDir, {
      containerId,
      request,
      image: resolved,
      spec: { sandbox: { id: record.id, namespacePaths } },
      ...(typeof cacheDir === 'string' ? { rootfsProvider: new LayerCache({ root: resolve(io.cwd, cacheDir) }), rootfsMode } : {}),
      ...(io.signal ? { signal: io.signal } : {}),
    });
    printJson(io, {
      bundle: bundle.path,
      config: bundle.configPath,
      rootfs: bundle.rootfs,
      rootfsMode: bundle.rootfsMode,
      containerId,
      reference: resolved.reference,
      manifestDigest: resolved.manifestDigest,
    });
    return 0;
  },
};
