/**
 * CRI CreateContainer request → Proxmox VE CT parameters (pure), and the description marker that
 * lets the runtime rebuild its state from Proxmox alone. The mapping table is in
 * docs/proxmox-lxc.md.
 *
 * @module
 */
import type { NormalizedCreateContainerRequest } from '../../cri/types.js';
import { FailedPreconditionError, InvalidOptionsError } from '../../errors.js';
import type { LxcCreateParams } from '../../proxmox/api/lxc.js';
import type { FeaturesProperty, MountPointProperty, NetProperty } from '../../proxmox/property-string.js';
import type { ResolvedProxmoxLxcRuntimeOptions } from './options.js';

/** Pod annotations the runtime reads. */
export const LXC_ANNOTATIONS = {
  /** Static IPv4 of `net0` in CIDR form (`10.0.0.5/24`); without it `net0` uses DHCP. */
  ip: 'lxcri.io/ip',
  /** IPv4 gateway of `net0` (with `lxcri.io/ip`). */
  gateway: 'lxcri.io/gw',
  /** Static IPv6 of `net0` in CIDR form, or `auto` / `dhcp`. */
  ip6: 'lxcri.io/ip6',
  /** IPv6 gateway of `net0`. */
  gateway6: 'lxcri.io/gw6',
  /** Size of the root volume in GiB (overrides the `rootfsSizeGiB` option). */
  rootfsSize: 'lxcri.io/rootfs-size',
} as const;

/** The tag every CT made by the runtime carries. */
export const LXCRI_TAG = 'lxcri';

/** What the description marker records. */
export interface LxcMarker {
  containerId: string;
  name: string;
  attempt: number;
  sandboxId: string;
  imageDigest: string;
  /** The template volid the CT was created from (PVE keeps no `ostemplate` in the config). */
  template: string;
  mode: 'oci' | 'rootfs';
}

const MARKER_RE = /<!-- lxcri:v1 (\{.*?\}) -->/s;

/** Renders the description of a CT: a human line and the marker as an HTML comment (hidden in the PVE GUI's notes). */
export function formatMarker(marker: LxcMarker): string {
  // JSON with `<`, `>` and `&` escaped: the comment can never be closed early
  const json = JSON.stringify(marker).replace(/[<>&]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const plain = (text: string): string => text.replace(/[<>&\s]/g, '_');
  return `lxcri container ${plain(marker.name)} (${plain(marker.containerId)})\n<!-- lxcri:v1 ${json} -->\n`;
}

/** Reads the marker from a CT description; `undefined` when there is none or it is malformed. */
export function parseMarker(description: unknown): LxcMarker | undefined {
  if (typeof description !== 'string') return undefined;
  const match = MARKER_RE.exec(description);
  if (!match?.[1]) return undefined;
  try {
    const value = JSON.parse(match[1]) as Record<string, unknown>;
    const str = (k: string): string | undefined => (typeof value[k] === 'string' ? (value[k] as string) : undefined);
    const containerId = str('containerId');
    if (!containerId) return undefined;
    return {
      containerId,
      name: str('name') ?? '',
      attempt: typeof value['attempt'] === 'number' ? value['attempt'] : 0,
      sandboxId: str('sandboxId') ?? '',
      imageDigest: str('imageDigest') ?? '',
      template: str('template') ?? '',
      mode: value['mode'] === 'oci' ? 'oci' : 'rootfs',
    };
  } catch {
    return undefined;
  }
}

/** A DNS-safe hostname (one label, ≤ 63 chars, `[a-z0-9-]`), or `undefined` when nothing usable is left. */
export function dnsSafeHostname(name: string): string | undefined {
  const label = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label === '' ? undefined : label;
}

const MIB = 1024 * 1024;

/** `memory` and `swap` in MiB: memory rounded up, at least 16; swap = swap limit − memory (CRI's limit is memory + swap). */
export function memoryParams(memoryLimit: number, swapLimit: number): { memory?: number; swap?: number } {
  if (!(memoryLimit > 0)) return {};
  const memory = Math.max(16, Math.ceil(memoryLimit / MIB));
  if (swapLimit === -1) return { memory }; // unlimited: PVE has no such value, keep its default
  // 0 (unset) = containerd's default: swap limit = memory limit, i.e. no swap
  const swap = swapLimit > 0 ? Math.max(0, Math.ceil(swapLimit / MIB) - memory) : 0;
  return { memory, swap };
}

/** `cores` and `cpulimit` from CFS quota/period; `cpuunits` from shares with the cgroup v2 conversion of runc/Kubernetes. */
export function cpuParams(quota: number, period: number, shares: number): { cores?: number; cpulimit?: number; cpuunits?: number } {
  const out: { cores?: number; cpulimit?: number; cpuunits?: number } = {};
  if (quota > 0 && period > 0) {
    const cpus = quota / period;
    out.cores = Math.min(8192, Math.max(1, Math.ceil(cpus)));
    out.cpulimit = Math.min(8192, Math.max(0.01, Math.ceil(cpus * 100) / 100));
  }
  if (shares > 0) {
    const s = Math.min(262144, Math.max(2, shares));
    out.cpuunits = 1 + Math.floor(((s - 2) * 9999) / 262142);
  }
  return out;
}

/** PVE `arch` from the image's OCI architecture. */
export function pveArch(architecture: string | undefined, variant?: string): LxcCreateParams['arch'] | undefined {
  switch (architecture) {
    case 'amd64':
      return 'amd64';
    case '386':
      return 'i386';
    case 'arm64':
      return 'arm64';
    case 'arm':
      return variant === 'v5' ? undefined : 'armhf';
    case 'riscv64':
      return 'riscv64';
    default:
      return undefined;
  }
}

/** Inputs of {@link buildCtParams} besides the request. */
export interface CtParamsContext {
  options: ResolvedProxmoxLxcRuntimeOptions;
  containerId: string;
  imageDigest: string;
  templateVolid: string;
  mode: 'oci' | 'rootfs';
  /** Image architecture (`config.architecture`). */
  architecture?: string | undefined;
  variant?: string | undefined;
  /** `ostype` (rootfs mode: from `/etc/os-release`). */
  ostype?: string | undefined;
}

/** The CT parameters (all but `vmid`), as the typed params of `client.lxc.create`. */
export type CtParams = Omit<LxcCreateParams, 'vmid'>;

/**
 * Maps a normalized CRI CreateContainer request to `POST /nodes/{node}/lxc` parameters.
 * @throws {@link InvalidOptionsError} for a malformed `lxcri.io/*` annotation
 * @throws {@link FailedPreconditionError} for what an LXC CT cannot express
 */
export function buildCtParams(request: NormalizedCreateContainerRequest, ctx: CtParamsContext): CtParams {
  const { options } = ctx;
  const config = request.config;
  const sandbox = request.sandboxConfig;
  const annotations = sandbox.annotations;
  const resources = config.linux.resources;

  const hostname = dnsSafeHostname(sandbox.hostname || sandbox.metadata.name || config.metadata.name);

  let sizeGiB = options.rootfsSizeGiB;
  const sizeAnnotation = annotations[LXC_ANNOTATIONS.rootfsSize];
  if (sizeAnnotation !== undefined) {
    const n = Number(sizeAnnotation);
    if (!/^\d+(?:\.\d+)?$/.test(sizeAnnotation) || !(n > 0)) {
      throw new InvalidOptionsError(`annotation ${LXC_ANNOTATIONS.rootfsSize}: expected a size in GiB, got ${JSON.stringify(sizeAnnotation)}`, {
        issues: [{ path: `sandboxConfig.annotations.${LXC_ANNOTATIONS.rootfsSize}`, message: 'expected a size in GiB' }],
      });
    }
    sizeGiB = n;
  }

  let net: NetProperty[] | undefined;
  if (options.bridge !== null && sandbox.linux.securityContext.namespaceOptions.network !== 'NODE') {
    const ip = annotations[LXC_ANNOTATIONS.ip];
    const gw = annotations[LXC_ANNOTATIONS.gateway];
    const ip6 = annotations[LXC_ANNOTATIONS.ip6];
    const gw6 = annotations[LXC_ANNOTATIONS.gateway6];
    const bad = (key: string, why: string): never => {
      throw new InvalidOptionsError(`annotation ${key}: ${why}`, { issues: [{ path: `sandboxConfig.annotations.${key}`, message: why }] });
    };
    if (ip !== undefined && !/^\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2}$/.test(ip)) bad(LXC_ANNOTATIONS.ip, 'expected an IPv4 address in CIDR form, e.g. 10.0.0.5/24');
    if (gw !== undefined && !/^\d{1,3}(?:\.\d{1,3}){3}$/.test(gw)) bad(LXC_ANNOTATIONS.gateway, 'expected an IPv4 address');
    if (gw !== undefined && ip === undefined) bad(LXC_ANNOTATIONS.gateway, `needs ${LXC_ANNOTATIONS.ip}`);
    if (ip6 !== undefined && !/^(?:auto|dhcp|[0-9a-fA-F:]+\/\d{1,3})$/.test(ip6)) bad(LXC_ANNOTATIONS.ip6, 'expected an IPv6 address in CIDR form, auto or dhcp');
    if (gw6 !== undefined && !/^[0-9a-fA-F:]+$/.test(gw6)) bad(LXC_ANNOTATIONS.gateway6, 'expected an IPv6 address');
    net = [
      {
        name: 'eth0',
        bridge: options.bridge,
        ...(options.firewall ? { firewall: true } : {}),
        ...(gw === undefined ? {} : { gw }),
        ...(gw6 === undefined ? {} : { gw6 }),
        ip: ip ?? 'dhcp',
        ...(ip6 === undefined ? {} : { ip6 }),
        ...(options.vlan === undefined ? {} : { tag: options.vlan }),
      },
    ];
  }

  const privileged = config.linux.securityContext.privileged && sandbox.linux.securityContext.privileged;
  const features: FeaturesProperty = {};
  if (options.features.nesting) features.nesting = true;
  if (options.features.keyctl) features.keyctl = true;
  if (options.features.fuse) features.fuse = true;

  const mp: MountPointProperty[] = [];
  for (const [i, mount] of config.mounts.entries()) {
    if (mount.image) throw new FailedPreconditionError(`config.mounts[${i}]: image volumes are not supported by Proxmox VE CTs`, { field: `config.mounts[${i}].image` });
    if (mount.hostPath.includes(',') || mount.containerPath.includes(',')) {
      throw new FailedPreconditionError(`config.mounts[${i}]: a path with a comma cannot be a PVE mount point (property strings have no escaping)`, { field: `config.mounts[${i}]` });
    }
    mp.push({ volume: mount.hostPath, mp: mount.containerPath, ...(mount.readonly ? { ro: true } : {}), backup: false });
  }
  if (config.devices.length > 0) {
    throw new FailedPreconditionError('config.devices: device passthrough for Proxmox VE CTs is not supported by this runtime', { field: 'config.devices' });
  }

  const mem = memoryParams(resources?.memoryLimitInBytes ?? 0, resources?.memorySwapLimitInBytes ?? 0);
  const cpu = cpuParams(resources?.cpuQuota ?? 0, resources?.cpuPeriod ?? 0, resources?.cpuShares ?? 0);
  const arch = pveArch(ctx.architecture, ctx.variant);

  return {
    ostemplate: ctx.templateVolid,
    ...(hostname === undefined ? {} : { hostname }),
    ...mem,
    ...cpu,
    ...(arch === undefined ? {} : { arch }),
    ...(ctx.ostype === undefined ? {} : { ostype: ctx.ostype }),
    storage: options.storages.rootfs,
    rootfs: { volume: `${options.storages.rootfs}:${sizeGiB}` },
    ...(net ? { net } : {}),
    ...(mp.length > 0 ? { mp } : {}),
    unprivileged: !privileged,
    ...(Object.keys(features).length > 0 ? { features } : {}),
    tags: [LXCRI_TAG, ...options.tags.filter((t) => t !== LXCRI_TAG)],
    description: formatMarker({
      containerId: ctx.containerId,
      name: config.metadata.name,
      attempt: config.metadata.attempt,
      sandboxId: request.podSandboxId,
      imageDigest: ctx.imageDigest,
      template: ctx.templateVolid,
      mode: ctx.mode,
    }),
    start: false,
  };
}

/** Quotes one word for `entrypoint` the way pve-container joins `Entrypoint` + `Cmd` (first word bare when it can be). */
export function formatEntrypoint(args: readonly string[]): string {
  if (args.length === 0) throw new FailedPreconditionError('the container has no command (CRI command/args and image Entrypoint/Cmd are empty)', {});
  return args
    .map((arg, i) => {
      // eslint-disable-next-line no-control-regex -- matching control characters is the point
      if (/[\0-\x1f\x7f]/.test(arg)) throw new FailedPreconditionError(`argument ${i} contains a control character, which PVE's entrypoint cannot hold`, { index: i });
      if (i === 0 && /^[^\s"']+$/.test(arg)) return arg;
      if (!arg.includes('"')) return `"${arg}"`;
      if (!arg.includes("'")) return `'${arg}'`;
      throw new FailedPreconditionError(`argument ${i} contains both quote characters, which PVE's entrypoint cannot hold`, { index: i });
    })
    .join(' ');
}
