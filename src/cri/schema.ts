/**
 * zod schemas of the CRI v1 messages a `CreateContainerRequest` carries (cri-api v0.36.3).
 *
 * Each schema reads the proto3 JSON form (lowerCamelCase keys) and outputs the normalised form of
 * `types.ts`: enums as value names (name or number accepted), int64 as a JS number (number or
 * decimal string accepted, non-safe integers rejected), repeated → arrays, maps → records, scalar
 * defaults filled. Objects are strict: unknown keys are errors. crictl's snake_case spelling and
 * `null` values are handled one step earlier, by `normalizeCreateContainerRequest`, which renames
 * keys using these same schemas; call the schemas directly only with camelCase input.
 *
 * @module
 */
import { z } from 'zod';
import {
  CRI_SIGNALS,
  MOUNT_PROPAGATIONS,
  NAMESPACE_MODES,
  PROTOCOLS,
  SECURITY_PROFILE_TYPES,
  SUPPLEMENTAL_GROUPS_POLICIES,
} from './types.js';
import type {
  CriSignal,
  NormalizedContainerConfig,
  NormalizedCreateContainerRequest,
  NormalizedPodSandboxConfig,
} from './types.js';

// ---------------------------------------------------------------------------------------------
// Scalars

/** Integer kinds of proto3 and their ranges (64-bit ones are limited to safe JS integers). */
export type IntKind = 'int32' | 'uint32' | 'int64' | 'uint64';

/**
 * What a scalar schema of this module reads, for the fast normaliser in normalize.ts, which must
 * produce exactly what the schema produces (a property test checks that it does).
 */
export type ScalarKind =
  | { kind: 'int'; int: IntKind; min: number; max: number }
  | { kind: 'enum'; names: readonly string[]; byName: ReadonlyMap<string, string> }
  | { kind: 'bytes' };

const SCALAR_KINDS = new WeakMap<z.ZodType, ScalarKind>();

/** The {@link ScalarKind} of a scalar schema built here (before `.default()`), if any. */
export function scalarKindOf(schema: z.ZodType): ScalarKind | undefined {
  return SCALAR_KINDS.get(schema);
}

const INT_RANGES: Record<IntKind, readonly [number, number]> = {
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

const DECIMAL = /^-?\d+$/;

function integer(kind: IntKind) {
  const [min, max] = INT_RANGES[kind];
  const schema = z.union([z.number(), z.string()]).transform((input, ctx): number => {
    let value: number;
    if (typeof input === 'number') {
      value = input;
    } else {
      if (!DECIMAL.test(input)) {
        ctx.issues.push({ code: 'custom', input, message: `expected an ${kind} as a number or a decimal string, got "${input.slice(0, 40)}"`, params: { code: 'invalid_type' } });
        return z.NEVER;
      }
      value = Number(input);
    }
    if (!Number.isInteger(value)) {
      ctx.issues.push({ code: 'custom', input, message: `expected an ${kind}, got ${String(input)}`, params: { code: 'invalid_type' } });
      return z.NEVER;
    }
    if (value < min || value > max || !Number.isSafeInteger(value)) {
      ctx.issues.push({
        code: 'custom',
        input,
        message: `${String(input)} is out of range for ${kind} (${min} to ${max}${kind.endsWith('64') ? ', the safe JavaScript integers' : ''})`,
        params: { code: 'out_of_range' },
      });
      return z.NEVER;
    }
    return value === 0 ? 0 : value; // no -0
  });
  SCALAR_KINDS.set(schema, { kind: 'int', int: kind, min, max });
  return schema;
}

const int32 = () => integer('int32').default(0);
const uint32 = () => integer('uint32').default(0);
const int64 = () => integer('int64').default(0);
const uint64 = () => integer('uint64').default(0);
const str = () => z.string().default('');
const bool = () => z.boolean().default(false);
const strings = () => z.array(z.string()).default(() => []);
const map = () => z.record(z.string(), z.string()).default(() => ({}));

/** Closest candidate by edit distance, for "did you mean" hints (undefined when nothing is close). */
export function closestName(input: string, candidates: Iterable<string>): string | undefined {
  const lower = input.toLowerCase().replace(/_/g, '');
  const limit = Math.max(2, Math.floor(input.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const c = candidate.toLowerCase().replace(/_/g, '');
    if (Math.abs(c.length - lower.length) >= bestDistance && !c.endsWith(lower) && !lower.endsWith(c)) continue;
    const d = c === lower ? 0 : c.endsWith(lower) || lower.endsWith(c) ? 1 : editDistance(lower, c, bestDistance);
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return best;
}

/** Levenshtein distance, giving up (returning `cap`) once every row exceeds `cap`. */
function editDistance(a: string, b: string, cap: number): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin >= cap) return cap;
    prev = cur;
  }
  return prev[b.length] ?? cap;
}

function protoEnum<const T extends readonly [string, ...string[]]>(
  enumName: string,
  names: T,
  aliases: Readonly<Record<string, T[number]>> = {},
  unknownMessage?: (input: string | number) => string,
) {
  const byName = new Map<string, T[number]>(names.map((n) => [n, n]));
  for (const [alias, target] of Object.entries(aliases)) byName.set(alias, target);
  const schema = z.union([z.string(), z.number()]).transform((input, ctx): T[number] => {
    if (typeof input === 'number') {
      const name = Number.isInteger(input) ? names[input] : undefined;
      if (name !== undefined) return name;
    } else {
      const name = byName.get(input);
      if (name !== undefined) return name;
    }
    const hint = typeof input === 'string' ? closestName(input, names) : undefined;
    ctx.issues.push({
      code: 'custom',
      input,
      message:
        (unknownMessage ? unknownMessage(input) : `unknown ${enumName} value ${JSON.stringify(input)}`) +
        `; expected one of ${names.length > 8 ? `${names.slice(0, 6).join(', ')}, ... (or 0..${names.length - 1})` : `${names.join(', ')} (or 0..${names.length - 1})`}` +
        (hint ? `; did you mean ${hint}?` : ''),
      params: { code: 'invalid_enum' },
    });
    return z.NEVER;
  });
  SCALAR_KINDS.set(schema, { kind: 'enum', names, byName });
  return schema;
}

/** Signal names of newer cri-api versions (`SIGNAL_SIGTERM`, `SIGNAL_RUNTIME_DEFAULT`). */
const SIGNAL_ALIASES: Record<string, CriSignal> = Object.fromEntries(CRI_SIGNALS.map((n) => [`SIGNAL_${n}`, n]));

const namespaceMode = () => protoEnum('NamespaceMode', NAMESPACE_MODES).default('POD');
const mountPropagation = () => protoEnum('MountPropagation', MOUNT_PROPAGATIONS).default('PROPAGATION_PRIVATE');
const protocol = () => protoEnum('Protocol', PROTOCOLS).default('TCP');
const supplementalGroupsPolicy = () => protoEnum('SupplementalGroupsPolicy', SUPPLEMENTAL_GROUPS_POLICIES).default('Merge');
const profileType = () => protoEnum('SecurityProfile.ProfileType', SECURITY_PROFILE_TYPES).default('RuntimeDefault');
const stopSignal = () =>
  protoEnum('Signal', CRI_SIGNALS, SIGNAL_ALIASES, (input) => `unknown CRI stop signal ${typeof input === 'number' ? String(input) : JSON.stringify(input)}`).default(
    'RUNTIME_DEFAULT',
  );

// ---------------------------------------------------------------------------------------------
// Messages shared by containers and sandboxes

const keyValueValue = z
    .union([z.string(), z.instanceof(Uint8Array)])
    .transform((input, ctx): string => {
      if (typeof input === 'string') return input;
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(input);
      } catch {
        ctx.issues.push({ code: 'custom', input, message: 'value bytes are not valid UTF-8', params: { code: 'invalid_encoding' } });
        return z.NEVER;
      }
    });
SCALAR_KINDS.set(keyValueValue, { kind: 'bytes' });

/** `runtime.v1.KeyValue`. `value` is `bytes` since v0.36.2: a string (text) or a `Uint8Array` (UTF-8). */
export const KeyValueSchema = z.strictObject({
  key: str(),
  value: keyValueValue.default(''),
});

/** `runtime.v1.IDMapping`. */
export const IdMappingSchema = z.strictObject({ hostId: uint32(), containerId: uint32(), length: uint32() });

/** `runtime.v1.ImageSpec`. */
export const ImageSpecSchema = z.strictObject({
  image: str(),
  annotations: map(),
  userSpecifiedImage: str(),
  runtimeHandler: str(),
  imageRef: str(),
});

/** `runtime.v1.Int64Value`. */
export const Int64ValueSchema = z.strictObject({ value: int64() });

/** `runtime.v1.SecurityProfile`. */
export const SecurityProfileSchema = z.strictObject({ profileType: profileType(), localhostRef: str() });

/** `runtime.v1.SELinuxOption`. */
export const SelinuxOptionSchema = z.strictObject({ user: str(), role: str(), type: str(), level: str() });

/** `runtime.v1.UserNamespace`. */
export const UserNamespaceSchema = z.strictObject({
  mode: namespaceMode(),
  uids: z.array(IdMappingSchema).default(() => []),
  gids: z.array(IdMappingSchema).default(() => []),
});

/** `runtime.v1.NamespaceOption`. */
export const NamespaceOptionSchema = z.strictObject({
  network: namespaceMode(),
  pid: namespaceMode(),
  ipc: namespaceMode(),
  targetId: str(),
  usernsOptions: UserNamespaceSchema.optional(),
});

/** `runtime.v1.HugepageLimit`. */
export const HugepageLimitSchema = z.strictObject({ pageSize: str(), limit: uint64() });

/** `runtime.v1.LinuxContainerResources`. */
export const LinuxContainerResourcesSchema = z.strictObject({
  cpuPeriod: int64(),
  cpuQuota: int64(),
  cpuShares: int64(),
  memoryLimitInBytes: int64(),
  oomScoreAdj: int64(),
  cpusetCpus: str(),
  cpusetMems: str(),
  hugepageLimits: z.array(HugepageLimitSchema).default(() => []),
  unified: map(),
  memorySwapLimitInBytes: int64(),
});

// ---------------------------------------------------------------------------------------------
// ContainerConfig

/** `runtime.v1.ContainerMetadata`. */
export const ContainerMetadataSchema = z.strictObject({ name: str(), attempt: uint32() });

/** `runtime.v1.Mount`. */
export const MountSchema = z.strictObject({
  containerPath: str(),
  hostPath: str(),
  readonly: bool(),
  selinuxRelabel: bool(),
  propagation: mountPropagation(),
  uidMappings: z.array(IdMappingSchema).default(() => []),
  gidMappings: z.array(IdMappingSchema).default(() => []),
  recursiveReadOnly: bool(),
  image: ImageSpecSchema.optional(),
  imageSubPath: str(),
});

/** `runtime.v1.Device`. */
export const DeviceSchema = z.strictObject({ containerPath: str(), hostPath: str(), permissions: str() });

/** `runtime.v1.CDIDevice`. */
export const CdiDeviceSchema = z.strictObject({ name: str() });

/** `runtime.v1.Capability`. */
export const CapabilitySchema = z.strictObject({
  addCapabilities: strings(),
  dropCapabilities: strings(),
  addAmbientCapabilities: strings(),
});

/** `runtime.v1.LinuxContainerSecurityContext`. */
export const LinuxContainerSecurityContextSchema = z.strictObject({
  capabilities: CapabilitySchema.prefault({}),
  privileged: bool(),
  namespaceOptions: NamespaceOptionSchema.prefault({}),
  selinuxOptions: SelinuxOptionSchema.prefault({}),
  runAsUser: Int64ValueSchema.optional(),
  runAsGroup: Int64ValueSchema.optional(),
  runAsUsername: str(),
  readonlyRootfs: bool(),
  supplementalGroups: z.array(integer('int64')).default(() => []),
  supplementalGroupsPolicy: supplementalGroupsPolicy(),
  noNewPrivs: bool(),
  maskedPaths: strings(),
  readonlyPaths: strings(),
  seccomp: SecurityProfileSchema.optional(),
  apparmor: SecurityProfileSchema.optional(),
  apparmorProfile: str(),
  seccompProfilePath: str(),
});

/** `runtime.v1.LinuxContainerConfig`. */
export const LinuxContainerConfigSchema = z.strictObject({
  resources: LinuxContainerResourcesSchema.optional(),
  securityContext: LinuxContainerSecurityContextSchema.prefault({}),
});

/** `runtime.v1.WindowsContainerSecurityContext` (Windows only). */
export const WindowsContainerSecurityContextSchema = z.strictObject({ runAsUsername: str(), credentialSpec: str(), hostProcess: bool() });

/** `runtime.v1.WindowsCpuGroupAffinity` (Windows only). */
export const WindowsCpuGroupAffinitySchema = z.strictObject({ cpuMask: uint64(), cpuGroup: uint32() });

/** `runtime.v1.WindowsContainerResources` (Windows only). */
export const WindowsContainerResourcesSchema = z.strictObject({
  cpuShares: int64(),
  cpuCount: int64(),
  cpuMaximum: int64(),
  memoryLimitInBytes: int64(),
  rootfsSizeInBytes: int64(),
  affinityCpus: z.array(WindowsCpuGroupAffinitySchema).default(() => []),
});

/** `runtime.v1.WindowsContainerConfig` (Windows only). */
export const WindowsContainerConfigSchema = z.strictObject({
  resources: WindowsContainerResourcesSchema.optional(),
  securityContext: WindowsContainerSecurityContextSchema.optional(),
});

/** `runtime.v1.ContainerConfig`. */
export const ContainerConfigSchema = z.strictObject({
  metadata: ContainerMetadataSchema,
  image: ImageSpecSchema,
  command: strings(),
  args: strings(),
  workingDir: str(),
  envs: z.array(KeyValueSchema).default(() => []),
  mounts: z.array(MountSchema).default(() => []),
  devices: z.array(DeviceSchema).default(() => []),
  labels: map(),
  annotations: map(),
  logPath: str(),
  stdin: bool(),
  stdinOnce: bool(),
  tty: bool(),
  linux: LinuxContainerConfigSchema.prefault({}),
  windows: WindowsContainerConfigSchema.optional(),
  CDIDevices: z.array(CdiDeviceSchema).default(() => []),
  stopSignal: stopSignal(),
});

// ---------------------------------------------------------------------------------------------
// PodSandboxConfig

/** `runtime.v1.PodSandboxMetadata`. */
export const PodSandboxMetadataSchema = z.strictObject({ name: str(), uid: str(), namespace: str(), attempt: uint32() });

/** `runtime.v1.DNSConfig`. */
export const DnsConfigSchema = z.strictObject({ servers: strings(), searches: strings(), options: strings() });

/** `runtime.v1.PortMapping`. */
export const PortMappingSchema = z.strictObject({ protocol: protocol(), containerPort: int32(), hostPort: int32(), hostIp: str() });

/** `runtime.v1.LinuxSandboxSecurityContext`. */
export const LinuxSandboxSecurityContextSchema = z.strictObject({
  namespaceOptions: NamespaceOptionSchema.prefault({}),
  selinuxOptions: SelinuxOptionSchema.prefault({}),
  runAsUser: Int64ValueSchema.optional(),
  runAsGroup: Int64ValueSchema.optional(),
  readonlyRootfs: bool(),
  supplementalGroups: z.array(integer('int64')).default(() => []),
  supplementalGroupsPolicy: supplementalGroupsPolicy(),
  privileged: bool(),
  seccomp: SecurityProfileSchema.optional(),
  apparmor: SecurityProfileSchema.optional(),
  seccompProfilePath: str(),
});

/** `runtime.v1.LinuxPodSandboxConfig`. */
export const LinuxPodSandboxConfigSchema = z.strictObject({
  cgroupParent: str(),
  securityContext: LinuxSandboxSecurityContextSchema.prefault({}),
  sysctls: map(),
  overhead: LinuxContainerResourcesSchema.optional(),
  resources: LinuxContainerResourcesSchema.optional(),
});

/** `runtime.v1.WindowsNamespaceOption` (Windows only). */
export const WindowsNamespaceOptionSchema = z.strictObject({ network: namespaceMode() });

/** `runtime.v1.WindowsSandboxSecurityContext` (Windows only). */
export const WindowsSandboxSecurityContextSchema = z.strictObject({
  runAsUsername: str(),
  credentialSpec: str(),
  hostProcess: bool(),
  namespaceOptions: WindowsNamespaceOptionSchema.optional(),
});

/** `runtime.v1.WindowsPodSandboxConfig` (Windows only). */
export const WindowsPodSandboxConfigSchema = z.strictObject({ securityContext: WindowsSandboxSecurityContextSchema.optional() });

/** `runtime.v1.PodSandboxConfig`. */
export const PodSandboxConfigSchema = z.strictObject({
  metadata: PodSandboxMetadataSchema,
  hostname: str(),
  logDirectory: str(),
  dnsConfig: DnsConfigSchema.optional(),
  portMappings: z.array(PortMappingSchema).default(() => []),
  labels: map(),
  annotations: map(),
  linux: LinuxPodSandboxConfigSchema.prefault({}),
  windows: WindowsPodSandboxConfigSchema.optional(),
});

/** `runtime.v1.CreateContainerRequest`. */
export const CreateContainerRequestSchema = z.strictObject({
  podSandboxId: str(),
  config: ContainerConfigSchema,
  sandboxConfig: PodSandboxConfigSchema,
});

// ---------------------------------------------------------------------------------------------
// Inferred types

/** What `CreateContainerRequestSchema` accepts (proto3 JSON, camelCase). */
export type CreateContainerRequestInput = z.input<typeof CreateContainerRequestSchema>;
/** What `ContainerConfigSchema` accepts (proto3 JSON, camelCase). */
export type ContainerConfigInput = z.input<typeof ContainerConfigSchema>;
/** What `PodSandboxConfigSchema` accepts (proto3 JSON, camelCase). */
export type PodSandboxConfigInput = z.input<typeof PodSandboxConfigSchema>;
/** Output of `CreateContainerRequestSchema`; the same shape as `NormalizedCreateContainerRequest`. */
export type CreateContainerRequestOutput = z.output<typeof CreateContainerRequestSchema>;
/** Output of `ContainerConfigSchema`. */
export type ContainerConfigOutput = z.output<typeof ContainerConfigSchema>;
/** Output of `PodSandboxConfigSchema`. */
export type PodSandboxConfigOutput = z.output<typeof PodSandboxConfigSchema>;

// Compile-time proof that the schemas produce exactly the hand-documented types of types.ts.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const sameRequest: Same<CreateContainerRequestOutput, NormalizedCreateContainerRequest> = true;
const sameConfig: Same<ContainerConfigOutput, NormalizedContainerConfig> = true;
const sameSandbox: Same<PodSandboxConfigOutput, NormalizedPodSandboxConfig> = true;
void sameRequest;
void sameConfig;
void sameSandbox;
