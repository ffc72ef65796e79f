/**
 * The parameter rules of every endpoint the simulator serves, written for this project from the
 * facts of the Proxmox VE API (names, types, ranges, enums, patterns and formats). A drift test
 * compares them with the official schema (`PVE_API_SCHEMA`) so they cannot silently diverge.
 *
 * @module
 */

/** The PVE releases the simulator can imitate. */
export type PveVersion = '8.4' | '9.1';

/** One parameter (or one key of a property string). */
export interface ParamRule {
  /** PVE's JSON-schema type. */
  readonly type: 'string' | 'integer' | 'number' | 'boolean';
  /** Absent from the request is fine. */
  readonly optional?: boolean;
  readonly enum?: readonly string[];
  /** An enum that differs per release (overrides `enum` there). */
  readonly enumIn?: Readonly<Partial<Record<PveVersion, readonly string[]>>>;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  /** A PVE (Perl) regular expression that must match the whole value. */
  readonly pattern?: string;
  /** A named format (see `FORMATS`) or a property-string format (sub-key rules). */
  readonly format?: string | PropertyStringFormat;
  /** Another parameter that must be present when this one is. */
  readonly requires?: string;
  /** For a property-string key: may be written without `key=` (first, bare). */
  readonly defaultKey?: boolean;
  /** Only in this PVE release and later. */
  readonly since?: PveVersion;
  /** `net[n]`-style indexed name: valid indexes are `0..count-1`. */
  readonly indexed?: number;
}

/** The sub-keys of a property string such as `net[n]` or `rootfs`. */
export type PropertyStringFormat = Readonly<Record<string, ParamRule>>;

/** An endpoint's rules. */
export interface EndpointRules {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The API path with `{placeholders}`, without `/api2/json`. */
  readonly path: string;
  /** 0 means API tokens are refused. */
  readonly allowToken: boolean;
  /** Only in this PVE release and later (older ones answer 501). */
  readonly since?: PveVersion;
  readonly params: Readonly<Record<string, ParamRule>>;
}

const opt = { optional: true } as const;
const bool = { type: 'boolean', optional: true } as const;
const node = { type: 'string', format: 'pve-node' } as const;
const vmid = { type: 'integer', format: 'pve-vmid', minimum: 100, maximum: 999_999_999 } as const;
const storageId = { type: 'string', format: 'pve-storage-id' } as const;
/** An OCI repository reference (`[host[:port]/]name[/name…]`), as pve-storage's pattern has it. */
const OCI_REPOSITORY =
  '(?:(?:[a-zA-Z\\d]|[a-zA-Z\\d][a-zA-Z\\d-]*[a-zA-Z\\d])(?:\\.(?:[a-zA-Z\\d]|[a-zA-Z\\d][a-zA-Z\\d-]*[a-zA-Z\\d]))*(?::\\d+)?/)?[a-z\\d]+(?:(?:[._]|__|[-]*)[a-z\\d]+)*(?:/[a-z\\d]+(?:(?:[._]|__|[-]*)[a-z\\d]+)*)*';
const MOUNT_OPTION = '(?^:(discard|lazytime|noatime|nodev|noexec|nosuid))';

const ROOTFS_KEYS: PropertyStringFormat = {
  volume: { type: 'string', format: 'pve-lxc-mp-string', defaultKey: true },
  acl: bool,
  mountoptions: { type: 'string', ...opt, pattern: `(?^:${MOUNT_OPTION}(;${MOUNT_OPTION})*)` },
  quota: bool,
  replicate: bool,
  ro: bool,
  shared: bool,
  size: { type: 'string', ...opt, format: 'disk-size' },
};

/** `rootfs` sub-keys. */
export const ROOTFS_FORMAT: PropertyStringFormat = ROOTFS_KEYS;

/** `mp[n]` sub-keys. */
export const MP_FORMAT: PropertyStringFormat = {
  ...ROOTFS_KEYS,
  mp: { type: 'string', format: 'pve-lxc-mp-string' },
  backup: bool,
  keepattrs: { ...bool, since: '9.1' },
};

/** `net[n]` sub-keys. */
export const NET_FORMAT: PropertyStringFormat = {
  name: { type: 'string', pattern: '[-_.\\w\\d]+' },
  bridge: { type: 'string', ...opt, pattern: '[-_.\\w\\d]+' },
  firewall: bool,
  gw: { type: 'string', ...opt, format: 'ipv4' },
  gw6: { type: 'string', ...opt, format: 'ipv6' },
  'host-managed': { ...bool, since: '9.1' },
  hwaddr: { type: 'string', ...opt, format: 'mac-addr' },
  ip: { type: 'string', ...opt, format: 'pve-ipv4-config' },
  ip6: { type: 'string', ...opt, format: 'pve-ipv6-config' },
  link_down: bool,
  mtu: { type: 'integer', ...opt, minimum: 64, maximum: 65535 },
  rate: { type: 'number', ...opt },
  tag: { type: 'integer', ...opt, minimum: 1, maximum: 4094 },
  trunks: { type: 'string', ...opt, pattern: '(?^:\\d+(?:;\\d+)*)' },
  type: { type: 'string', ...opt, enum: ['veth'] },
};

/** `features` sub-keys. */
export const FEATURES_FORMAT: PropertyStringFormat = {
  force_rw_sys: bool,
  fuse: bool,
  keyctl: bool,
  mknod: bool,
  mount: { type: 'string', ...opt, pattern: '(?^:[a-zA-Z0-9_; ]+)' },
  nesting: bool,
};

/** `dev[n]` sub-keys. */
const DEV_FORMAT: PropertyStringFormat = {
  path: { type: 'string', ...opt, format: 'pve-lxc-dev-string', defaultKey: true },
  'deny-write': bool,
  gid: { type: 'integer', ...opt, minimum: 0 },
  mode: { type: 'string', ...opt, pattern: '0[0-7]{3}' },
  uid: { type: 'integer', ...opt, minimum: 0 },
};

/** `unused[n]` sub-keys. */
const UNUSED_FORMAT: PropertyStringFormat = {
  volume: { type: 'string', format: 'pve-volume-id', defaultKey: true },
};

const CONTROL_FREE = '[^\\x00-\\x08\\x10-\\x1F\\x7F]';

/** The CT options shared by create and `PUT …/config`. */
const CT_OPTIONS: Readonly<Record<string, ParamRule>> = {
  arch: { type: 'string', ...opt, enum: ['amd64', 'i386', 'arm64', 'armhf', 'riscv32', 'riscv64'] },
  cmode: { type: 'string', ...opt, enum: ['shell', 'console', 'tty'] },
  console: bool,
  cores: { type: 'integer', ...opt, minimum: 1, maximum: 8192 },
  cpulimit: { type: 'number', ...opt, minimum: 0, maximum: 8192 },
  cpuunits: { type: 'integer', ...opt, minimum: 0, maximum: 500_000 },
  debug: bool,
  description: { type: 'string', ...opt, maxLength: 8192 },
  'dev[n]': { type: 'string', ...opt, format: DEV_FORMAT, indexed: 256 },
  entrypoint: { type: 'string', ...opt, pattern: `(?^:${CONTROL_FREE}+)`, since: '9.1' },
  env: { type: 'string', ...opt, pattern: `(?^:(?:\\w+=${CONTROL_FREE}*)(?:\\0\\w+=${CONTROL_FREE}*)*)`, since: '9.1' },
  features: { type: 'string', ...opt, format: FEATURES_FORMAT },
  hookscript: { type: 'string', ...opt, format: 'pve-volume-id' },
  hostname: { type: 'string', ...opt, format: 'dns-name', maxLength: 255 },
  lock: {
    type: 'string',
    ...opt,
    enum: ['backup', 'create', 'destroyed', 'disk', 'fstrim', 'migrate', 'mounted', 'rollback', 'snapshot', 'snapshot-delete'],
  },
  memory: { type: 'integer', ...opt, minimum: 16 },
  'mp[n]': { type: 'string', ...opt, format: MP_FORMAT, indexed: 256 },
  nameserver: { type: 'string', ...opt, format: 'lxc-ip-with-ll-iface-list' },
  'net[n]': { type: 'string', ...opt, format: NET_FORMAT, indexed: 32 },
  onboot: bool,
  ostype: {
    type: 'string',
    ...opt,
    enum: ['debian', 'devuan', 'ubuntu', 'centos', 'fedora', 'opensuse', 'archlinux', 'alpine', 'gentoo', 'nixos', 'unmanaged'],
  },
  protection: bool,
  rootfs: { type: 'string', ...opt, format: ROOTFS_FORMAT },
  searchdomain: { type: 'string', ...opt, format: 'dns-name-list' },
  startup: { type: 'string', ...opt, format: 'pve-startup-order' },
  swap: { type: 'integer', ...opt, minimum: 0 },
  tags: { type: 'string', ...opt, format: 'pve-tag-list' },
  template: bool,
  timezone: { type: 'string', ...opt, format: 'pve-ct-timezone' },
  tty: { type: 'integer', ...opt, minimum: 0, maximum: 6 },
  unprivileged: bool,
  'unused[n]': { type: 'string', ...opt, format: UNUSED_FORMAT, indexed: 256 },
};

/** Every endpoint the simulator serves, with its parameter rules. */
export const ENDPOINT_RULES: readonly EndpointRules[] = [
  { method: 'GET', path: '/version', allowToken: true, params: {} },
  {
    method: 'POST',
    path: '/access/ticket',
    allowToken: false,
    params: {
      username: { type: 'string', maxLength: 64 },
      password: { type: 'string' },
      realm: { type: 'string', ...opt, format: 'pve-realm', maxLength: 32 },
      otp: { type: 'string', ...opt },
      'tfa-challenge': { type: 'string', ...opt },
      path: { type: 'string', ...opt, maxLength: 64, requires: 'privs' },
      privs: { type: 'string', ...opt, format: 'pve-priv-list', maxLength: 64, requires: 'path' },
      'new-format': bool,
    },
  },
  { method: 'GET', path: '/nodes', allowToken: true, params: {} },
  { method: 'GET', path: '/cluster/resources', allowToken: true, params: { type: { type: 'string', ...opt, enum: ['vm', 'storage', 'node', 'sdn'] } } },
  { method: 'GET', path: '/cluster/nextid', allowToken: true, params: { vmid: { ...vmid, ...opt } } },
  { method: 'GET', path: '/nodes/{node}/lxc', allowToken: true, params: { node } },
  {
    method: 'POST',
    path: '/nodes/{node}/lxc',
    allowToken: true,
    params: {
      ...CT_OPTIONS,
      node,
      vmid,
      ostemplate: { type: 'string', maxLength: 255 },
      bwlimit: { type: 'number', ...opt, minimum: 0 },
      force: bool,
      'ha-managed': { ...bool, since: '9.1' },
      'ignore-unpack-errors': bool,
      password: { type: 'string', ...opt, minLength: 5 },
      pool: { type: 'string', ...opt, format: 'pve-poolid' },
      restore: bool,
      'ssh-public-keys': { type: 'string', ...opt },
      start: bool,
      storage: { ...storageId, ...opt },
      unique: { ...bool, requires: 'restore' },
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/lxc/{vmid}/config',
    allowToken: true,
    params: { node, vmid, current: bool, snapshot: { type: 'string', ...opt, format: 'pve-configid', maxLength: 40 } },
  },
  {
    method: 'PUT',
    path: '/nodes/{node}/lxc/{vmid}/config',
    allowToken: true,
    params: {
      ...CT_OPTIONS,
      node,
      vmid,
      delete: { type: 'string', ...opt, format: 'pve-configid-list' },
      revert: { type: 'string', ...opt, format: 'pve-configid-list' },
      digest: { type: 'string', ...opt, maxLength: 40 },
    },
  },
  { method: 'GET', path: '/nodes/{node}/lxc/{vmid}/status/current', allowToken: true, params: { node, vmid } },
  { method: 'POST', path: '/nodes/{node}/lxc/{vmid}/status/start', allowToken: true, params: { node, vmid, debug: bool, skiplock: bool } },
  {
    method: 'POST',
    path: '/nodes/{node}/lxc/{vmid}/status/stop',
    allowToken: true,
    params: { node, vmid, skiplock: bool, 'overrule-shutdown': bool },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/lxc/{vmid}/status/shutdown',
    allowToken: true,
    params: { node, vmid, forceStop: bool, timeout: { type: 'integer', ...opt, minimum: 0 } },
  },
  {
    method: 'DELETE',
    path: '/nodes/{node}/lxc/{vmid}',
    allowToken: true,
    params: { node, vmid, force: bool, purge: bool, 'destroy-unreferenced-disks': bool },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/storage',
    allowToken: true,
    params: {
      node,
      content: { type: 'string', ...opt, format: 'pve-storage-content-list' },
      enabled: bool,
      format: bool,
      storage: { ...storageId, ...opt },
      target: { ...node, ...opt },
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/storage/{storage}/content',
    allowToken: true,
    params: { node, storage: storageId, content: { type: 'string', ...opt, format: 'pve-storage-content' }, vmid: { ...vmid, ...opt } },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/storage/{storage}/content/{volume}',
    allowToken: true,
    params: { node, storage: { ...storageId, ...opt }, volume: { type: 'string' } },
  },
  {
    method: 'DELETE',
    path: '/nodes/{node}/storage/{storage}/content/{volume}',
    allowToken: true,
    params: { node, storage: { ...storageId, ...opt }, volume: { type: 'string' }, delay: { type: 'integer', ...opt, minimum: 1, maximum: 30 } },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/storage/{storage}/upload',
    allowToken: true,
    params: {
      node,
      storage: storageId,
      content: { type: 'string', enum: ['iso', 'vztmpl', 'import'], format: 'pve-storage-content' },
      filename: { type: 'string', maxLength: 255 },
      checksum: { type: 'string', ...opt, requires: 'checksum-algorithm' },
      'checksum-algorithm': { type: 'string', ...opt, enum: ['md5', 'sha1', 'sha224', 'sha256', 'sha384', 'sha512'], requires: 'checksum' },
      tmpfilename: { type: 'string', ...opt, pattern: '/var/tmp/pveupload-[0-9a-f]+' },
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/tasks',
    allowToken: true,
    params: {
      node,
      errors: bool,
      limit: { type: 'integer', ...opt, minimum: 0 },
      since: { type: 'integer', ...opt },
      source: { type: 'string', ...opt, enum: ['archive', 'active', 'all'] },
      start: { type: 'integer', ...opt, minimum: 0 },
      statusfilter: { type: 'string', ...opt, format: 'pve-task-status-type-list' },
      typefilter: { type: 'string', ...opt },
      until: { type: 'integer', ...opt },
      userfilter: { type: 'string', ...opt },
      vmid: { ...vmid, ...opt },
    },
  },
  { method: 'GET', path: '/nodes/{node}/tasks/{upid}/status', allowToken: true, params: { node, upid: { type: 'string' } } },
  { method: 'GET', path: '/nodes/{node}/status', allowToken: true, params: { node } },
  { method: 'GET', path: '/cluster/status', allowToken: true, params: {} },
  { method: 'GET', path: '/cluster/tasks', allowToken: true, params: {} },
  { method: 'GET', path: '/nodes/{node}/lxc/{vmid}', allowToken: true, params: { node, vmid } },
  { method: 'GET', path: '/nodes/{node}/lxc/{vmid}/status', allowToken: true, params: { node, vmid } },
  { method: 'GET', path: '/nodes/{node}/lxc/{vmid}/interfaces', allowToken: true, params: { node, vmid } },
  {
    method: 'POST',
    path: '/nodes/{node}/lxc/{vmid}/status/reboot',
    allowToken: true,
    params: { node, vmid, timeout: { type: 'integer', ...opt, minimum: 0 } },
  },
  {
    method: 'GET',
    path: '/storage',
    allowToken: true,
    params: {
      type: {
        type: 'string',
        ...opt,
        enum: ['btrfs', 'cephfs', 'cifs', 'dir', 'esxi', 'iscsi', 'iscsidirect', 'lvm', 'lvmthin', 'nfs', 'pbs', 'rbd', 'zfs', 'zfspool'],
        // PVE 9 dropped GlusterFS
        enumIn: { '8.4': ['btrfs', 'cephfs', 'cifs', 'dir', 'esxi', 'glusterfs', 'iscsi', 'iscsidirect', 'lvm', 'lvmthin', 'nfs', 'pbs', 'rbd', 'zfs', 'zfspool'] },
      },
    },
  },
  {
    method: 'GET',
    path: '/pools',
    allowToken: true,
    params: { poolid: { type: 'string', ...opt, format: 'pve-poolid' }, type: { type: 'string', ...opt, enum: ['qemu', 'lxc', 'storage'], requires: 'poolid' } },
  },
  {
    method: 'POST',
    path: '/nodes/{node}/storage/{storage}/oci-registry-pull',
    allowToken: true,
    since: '9.1',
    params: {
      node,
      storage: storageId,
      reference: { type: 'string', pattern: `^${OCI_REPOSITORY}:\\w[\\w.-]{0,127}$` },
      filename: { type: 'string', ...opt, minLength: 1, maxLength: 255 },
    },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/query-oci-repo-tags',
    allowToken: true,
    since: '9.1',
    params: { node, reference: { type: 'string', pattern: `^${OCI_REPOSITORY}$` } },
  },
  {
    method: 'GET',
    path: '/nodes/{node}/tasks/{upid}/log',
    allowToken: true,
    params: {
      node,
      upid: { type: 'string' },
      download: bool,
      limit: { type: 'integer', ...opt, minimum: 0 },
      start: { type: 'integer', ...opt, minimum: 0 },
    },
  },
];

/** True when a rule exists in `version` (rules without `since` exist in every version). */
export function ruleInVersion(rule: ParamRule, version: PveVersion): boolean {
  return rule.since === undefined || version === '9.1' || rule.since === version;
}
