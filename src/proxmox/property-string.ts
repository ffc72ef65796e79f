/**
 * Typed codec for Proxmox VE property strings (`net[n]`, `rootfs`, `mp[n]`, `features`,
 * `startup`, `dev[n]`) and the indexed parameters they are sent as (`net0..net31`, `mp0..mp255`,
 * `dev0..dev255`, `unused0..unused255`).
 *
 * A property string is a comma-separated list of `key=value` pairs; the key marked as the
 * *default key* (`volume` for `rootfs`/`mp[n]`, `path` for `dev[n]`, `order` for `startup`) may
 * appear bare. Booleans are `1`/`0`, list values are joined with `;` (`mountoptions`, `trunks`,
 * `features mount=`). The wire format has no escaping, so a value containing `,` is refused here
 * instead of being silently cut by PVE. Key names are PVE's own (`host-managed`, `link_down`,
 * `deny-write`) so the PVE documentation applies as written.
 *
 * @module
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../errors.js';

const bool = z.boolean();
const mountOption = z.enum(['discard', 'lazytime', 'noatime', 'nodev', 'noexec', 'nosuid']);
const noComma = (what: string) =>
  z
    .string()
    .min(1, `${what} must not be empty`)
    .refine((s) => !s.includes(','), `${what} must not contain ','`);
const volume = noComma('volume');
const diskSize = z.string().regex(/^\d+(?:\.\d+)?[KMGT]?$/, 'size must be a disk size like 8G or 512M');

/** Schema of a `net[n]` property string (PVE 9.1: `host-managed` is new). */
export const netPropertySchema = z.strictObject({
  name: z.string().regex(/^[-_.\w]+$/, 'name must match [-_.\\w]+ (e.g. eth0)'),
  bridge: z.string().regex(/^[-_.\w]+$/, 'bridge must match [-_.\\w]+').optional(),
  firewall: bool.optional(),
  gw: noComma('gw').optional(),
  gw6: noComma('gw6').optional(),
  'host-managed': bool.optional(),
  hwaddr: z.string().regex(/^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/, 'hwaddr must be XX:XX:XX:XX:XX:XX').optional(),
  ip: z
    .string()
    .regex(/^(?:dhcp|manual|\d{1,3}(?:\.\d{1,3}){3}\/\d{1,2})$/, 'ip must be IPv4/CIDR, dhcp or manual (a bare address without /prefix is refused by PVE)')
    .optional(),
  ip6: z
    .string()
    .regex(/^(?:auto|dhcp|manual|[0-9a-fA-F:.]+\/\d{1,3})$/, 'ip6 must be IPv6/CIDR, auto, dhcp or manual')
    .optional(),
  link_down: bool.optional(),
  mtu: z.number().int().min(64).max(65535).optional(),
  rate: z.number().min(0).optional(),
  tag: z.number().int().min(1).max(4094).optional(),
  trunks: z.array(z.number().int().min(1).max(4094)).min(1).optional(),
  type: z.literal('veth').optional(),
});

const volumeKeys = {
  acl: bool.optional(),
  mountoptions: z.array(mountOption).min(1).optional(),
  quota: bool.optional(),
  replicate: bool.optional(),
  ro: bool.optional(),
  shared: bool.optional(),
  size: diskSize.optional(),
};

/** Schema of the `rootfs` property string. */
export const rootfsPropertySchema = z.strictObject({ volume, ...volumeKeys });

/** Schema of an `mp[n]` property string: the `rootfs` keys plus `mp`, `backup` and `keepattrs`. */
export const mountPointPropertySchema = z.strictObject({
  volume,
  mp: noComma('mp').refine((s) => s.startsWith('/'), 'mp must be an absolute path'),
  backup: bool.optional(),
  keepattrs: bool.optional(),
  ...volumeKeys,
});

/** Schema of the `features` property string. */
export const featuresPropertySchema = z.strictObject({
  force_rw_sys: bool.optional(),
  fuse: bool.optional(),
  keyctl: bool.optional(),
  mknod: bool.optional(),
  mount: z.array(z.string().regex(/^[a-zA-Z0-9_ ]+$/, 'mount entries must match [a-zA-Z0-9_ ]+')).min(1).optional(),
  nesting: bool.optional(),
});

/** Schema of the `startup` property string (`[[order=]n][,up=n][,down=n]`). */
export const startupPropertySchema = z.strictObject({
  order: z.number().int().min(0).optional(),
  up: z.number().int().min(0).optional(),
  down: z.number().int().min(0).optional(),
});

/** Schema of a `dev[n]` property string. */
export const devicePropertySchema = z.strictObject({
  path: noComma('path').optional(),
  'deny-write': bool.optional(),
  gid: z.number().int().min(0).optional(),
  mode: z.string().regex(/^0[0-7]{3}$/, 'mode must be an octal mode like 0660').optional(),
  uid: z.number().int().min(0).optional(),
});

/** A `net[n]` value, e.g. `{ name: 'eth0', bridge: 'vmbr0', ip: 'dhcp' }`. */
export type NetProperty = z.input<typeof netPropertySchema>;
/** A `rootfs` value, e.g. `{ volume: 'local-lvm:8' }`. */
export type RootfsProperty = z.input<typeof rootfsPropertySchema>;
/** An `mp[n]` value, e.g. `{ volume: 'local-lvm:16', mp: '/data' }`. */
export type MountPointProperty = z.input<typeof mountPointPropertySchema>;
/** A `features` value, e.g. `{ nesting: true, mount: ['nfs', 'cifs'] }`. */
export type FeaturesProperty = z.input<typeof featuresPropertySchema>;
/** A `startup` value, e.g. `{ order: 1, up: 30 }`. */
export type StartupProperty = z.input<typeof startupPropertySchema>;
/** A `dev[n]` value, e.g. `{ path: '/dev/fuse', mode: '0666' }`. */
export type DeviceProperty = z.input<typeof devicePropertySchema>;

/** The property-string kinds this codec knows, with the typed object of each. */
export interface PropertyStringTypes {
  net: NetProperty;
  rootfs: RootfsProperty;
  mp: MountPointProperty;
  features: FeaturesProperty;
  startup: StartupProperty;
  dev: DeviceProperty;
}

/** One of `net`, `rootfs`, `mp`, `features`, `startup`, `dev`. */
export type PropertyStringKind = keyof PropertyStringTypes;

interface KindSpec {
  schema: z.ZodObject;
  defaultKey?: string;
  lists: ReadonlySet<string>;
  numbers: ReadonlySet<string>;
  booleans: ReadonlySet<string>;
}

function specOf(schema: z.ZodObject, defaultKey?: string): KindSpec {
  const lists = new Set<string>();
  const numbers = new Set<string>();
  const booleans = new Set<string>();
  for (const [key, field] of Object.entries(schema.shape)) {
    let inner: z.ZodType = field as z.ZodType;
    while (inner instanceof z.ZodOptional) inner = inner.unwrap() as z.ZodType;
    if (inner instanceof z.ZodArray) lists.add(key);
    else if (inner instanceof z.ZodNumber) numbers.add(key);
    else if (inner instanceof z.ZodBoolean) booleans.add(key);
  }
  return { schema, ...(defaultKey === undefined ? {} : { defaultKey }), lists, numbers, booleans };
}

const KINDS: Readonly<Record<PropertyStringKind, KindSpec>> = {
  net: specOf(netPropertySchema),
  rootfs: specOf(rootfsPropertySchema, 'volume'),
  mp: specOf(mountPointPropertySchema, 'volume'),
  features: specOf(featuresPropertySchema),
  startup: specOf(startupPropertySchema, 'order'),
  dev: specOf(devicePropertySchema, 'path'),
};

/** Index limits of indexed parameters (pve-container `MAX_LXC_NETWORKS`, `MAX_MOUNT_POINTS`, `MAX_DEVICES`). */
export const INDEXED_PARAM_LIMITS = Object.freeze({ net: 32, mp: 256, dev: 256, unused: 256 } as const);

function invalid(field: string, message: string, cause?: unknown): InvalidArgumentError {
  return InvalidArgumentError.forField(field, message, cause === undefined ? {} : { cause });
}

function issuesText(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

/**
 * Encodes a typed object as a property string. Keys come out in schema order, the default key
 * first and bare; `undefined` values are dropped; booleans become `1`/`0`; lists are joined with
 * `;`. The input object is never mutated.
 *
 * @example
 * ```ts
 * encodePropertyString('net', { name: 'eth0', bridge: 'vmbr0', ip: '10.0.0.5/24', firewall: true });
 * // 'name=eth0,bridge=vmbr0,firewall=1,ip=10.0.0.5/24'
 * encodePropertyString('rootfs', { volume: 'local-lvm:8' }); // 'local-lvm:8'
 * ```
 * @throws `InvalidArgumentError` (`ERR_INVALID_ARGUMENT`) naming the offending key.
 */
export function encodePropertyString<K extends PropertyStringKind>(kind: K, value: PropertyStringTypes[K], field: string = kind): string {
  const spec = KINDS[kind];
  if (spec === undefined) throw invalid(field, `unknown property-string kind '${String(kind)}'`);
  const parsed = spec.schema.safeParse(value);
  if (!parsed.success) throw invalid(field, issuesText(parsed.error), parsed.error);
  const data = parsed.data as Record<string, unknown>;
  const parts: string[] = [];
  const render = (v: unknown): string => {
    if (typeof v === 'boolean') return v ? '1' : '0';
    if (Array.isArray(v)) return v.map(String).join(';');
    return String(v);
  };
  const keys = Object.keys(spec.schema.shape);
  if (spec.defaultKey !== undefined && data[spec.defaultKey] !== undefined) {
    const text = render(data[spec.defaultKey]);
    parts.push(text.includes('=') ? `${spec.defaultKey}=${text}` : text);
  }
  for (const key of keys) {
    if (key === spec.defaultKey) continue;
    const v = data[key];
    if (v === undefined) continue;
    const text = render(v);
    if (text.includes(',')) throw invalid(`${field}.${key}`, `value must not contain ','`);
    parts.push(`${key}=${text}`);
  }
  return parts.join(',');
}

function decodeValue(spec: KindSpec, key: string, raw: string, field: string): unknown {
  if (spec.booleans.has(key)) {
    if (raw === '1' || raw === 'true' || raw === 'yes' || raw === 'on') return true;
    if (raw === '0' || raw === 'false' || raw === 'no' || raw === 'off') return false;
    throw invalid(`${field}.${key}`, `expected a boolean (1 or 0), got '${raw}'`);
  }
  if (spec.numbers.has(key)) {
    if (!/^-?\d+(?:\.\d+)?$/.test(raw)) throw invalid(`${field}.${key}`, `expected a number, got '${raw}'`);
    return Number(raw);
  }
  if (spec.lists.has(key)) {
    const items = raw.split(';').filter((s) => s !== '');
    return key === 'trunks' ? items.map((s) => (/^\d+$/.test(s) ? Number(s) : s)) : items;
  }
  return raw;
}

/**
 * Parses a property string into its typed object, validating every key and value.
 *
 * @example
 * ```ts
 * parsePropertyString('mp', 'local-lvm:16,mp=/data,backup=1');
 * // { volume: 'local-lvm:16', mp: '/data', backup: true }
 * ```
 * @throws `InvalidArgumentError` (`ERR_INVALID_ARGUMENT`) naming the offending key.
 */
export function parsePropertyString<K extends PropertyStringKind>(kind: K, text: string, field: string = kind): PropertyStringTypes[K] {
  const spec = KINDS[kind];
  if (spec === undefined) throw invalid(field, `unknown property-string kind '${String(kind)}'`);
  if (typeof text !== 'string') throw invalid(field, 'expected a string');
  const out: Record<string, unknown> = {};
  for (const part of text.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    let key: string;
    let raw: string;
    if (eq === -1) {
      if (spec.defaultKey === undefined) throw invalid(field, `'${part}' has no key and ${kind} has no default key`);
      key = spec.defaultKey;
      raw = part;
    } else {
      key = part.slice(0, eq);
      raw = part.slice(eq + 1);
      if (!(key in spec.schema.shape)) {
        // A default-key value may itself contain '=' only when given with its key; a bare one with '=' is an unknown key.
        throw invalid(`${field}.${key}`, `unknown key '${key}'`);
      }
    }
    if (key in out) throw invalid(`${field}.${key}`, `key '${key}' given twice`);
    out[key] = decodeValue(spec, key, raw, field);
  }
  const parsed = spec.schema.safeParse(out);
  if (!parsed.success) throw invalid(field, issuesText(parsed.error), parsed.error);
  return parsed.data as PropertyStringTypes[K];
}

/** Kinds that are sent as indexed parameters (`net0`, `mp3`, `dev1`). */
export type IndexedPropertyKind = 'net' | 'mp' | 'dev';

/**
 * Expands indexed values into PVE parameters: `encodeIndexedParams('net', [a, b])` gives
 * `{ net0: '…', net1: '…' }`; a sparse record (`{ 3: a }`) keeps its indices. Indices are checked
 * against PVE's limits (`net0..net31`, `mp0..mp255`, `dev0..dev255`).
 *
 * @throws `InvalidArgumentError` (`ERR_INVALID_ARGUMENT`) for an index out of range or a bad value.
 */
export function encodeIndexedParams<K extends IndexedPropertyKind>(
  kind: K,
  values: readonly (PropertyStringTypes[K] | undefined)[] | Readonly<Record<number, PropertyStringTypes[K] | undefined>>,
): Record<string, string> {
  const limit = INDEXED_PARAM_LIMITS[kind];
  const out: Record<string, string> = {};
  const entries: [string, PropertyStringTypes[K] | undefined][] = Array.isArray(values)
    ? values.map((v, i) => [String(i), v] as [string, PropertyStringTypes[K] | undefined])
    : Object.entries(values as Record<string, PropertyStringTypes[K] | undefined>);
  for (const [indexText, value] of entries) {
    if (value === undefined) continue;
    const index = Number(indexText);
    if (!Number.isInteger(index) || index < 0 || index >= limit) {
      throw invalid(`${kind}${indexText}`, `index must be an integer from 0 to ${limit - 1}`);
    }
    out[`${kind}${index}`] = encodePropertyString(kind, value, `${kind}${index}`);
  }
  return out;
}

/**
 * Splits a PVE parameter name like `net3` or `mp12` into kind and index, or returns `undefined`
 * when the name is not an indexed parameter within PVE's limits.
 */
export function parseIndexedParamName(name: string): { kind: IndexedPropertyKind | 'unused'; index: number } | undefined {
  const m = /^(net|mp|dev|unused)(\d{1,3})$/.exec(name);
  if (!m) return undefined;
  const kind = m[1] as IndexedPropertyKind | 'unused';
  const index = Number(m[2]);
  if (String(index) !== m[2] || index >= INDEXED_PARAM_LIMITS[kind]) return undefined;
  return { kind, index };
}
