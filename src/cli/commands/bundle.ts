import { basename, resolve } from 'node:path';
import { InMemoryContainerStore } from '../../cri/store-memory.js';
import { validateCreateContainer } from '../../cri/validate.js';
import { writeBundle } from '../../oci/bundle/write-bundle.js';
import { LayerCache } from '../../oci/layers/layer-cache.js';
import { resolveImageArg } from '../image-arg.js';
import { readRequestInput, standaloneSandbox } from '../inputs.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, UsageError } from '../util.js';

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
    const requestFile = values['request'];
    const out = values['out'];
    if (typeof requestFile !== 'string' || requestFile === '') throw new UsageError('--request FILE is required');
    if (typeof out !== 'string' || out === '') throw new UsageError('--out BUNDLE is required');
    const bundleDir = resolve(io.cwd, out);
    const cacheDir = values['cache'];
    const rootfsMode = values['rootfs-mode'] ?? 'auto';
    if (rootfsMode !== 'auto' && rootfsMode !== 'overlay' && rootfsMode !== 'copy') throw new UsageError('--rootfs-mode must be overlay, copy or auto');
    if (values['rootfs-mode'] !== undefined && typeof cacheDir !== 'string') throw new UsageError('--rootfs-mode needs --cache DIR');
    const idFlag = values['container-id'];
    const containerId = typeof idFlag === 'string' ? idFlag : basename(bundleDir);
    const sandboxFile = values['sandbox'];

    const resolved = await resolveImageArg(io, values['image'], values['platform']);
    const input = await readRequestInput(io, requestFile, typeof sandboxFile === 'string' ? sandboxFile : undefined);
    const { request, sandbox } = await validateCreateContainer(input.request, {
      sandbox: standaloneSandbox(input),
      containers: new InMemoryContainerStore(),
      ...(io.signal ? { signal: io.signal } : {}),
    });
    const bundle = await writeBundle(bundleDir, {
      containerId,
      request,
      image: resolved,
      spec: { sandbox: { id: sandbox.id, namespacePaths: sandbox.namespacePaths } },
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
