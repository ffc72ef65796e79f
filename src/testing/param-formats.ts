/**
 * Named PVE parameter formats (`pve-node`, `pve-vmid`, `dns-name`, …) as checks that return an
 * error text or `undefined`. The texts are PVE's own (`die "...\n"` in pve-common, pve-storage,
 * pve-container and pve-access-control), including the trailing newline the Perl code keeps.
 *
 * @module
 */
import { readFileSync } from 'node:fs';

/** A format check: `undefined` when valid, else PVE's error text. */
export type FormatCheck = (value: string) => string | undefined;

const IPV4_OCTET = '(?:25[0-5]|(?:2[0-4]|1[0-9]|[1-9])?[0-9])';
const IPV4 = `(?:${IPV4_OCTET}\\.){3}${IPV4_OCTET}`;
const IPV4_RE = new RegExp(`^${IPV4}$`);

function isIpv6(text: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length < 2) return false;
  let head = text;
  let groupsForV4 = 0;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.')) {
    const tail = text.slice(lastColon + 1);
    if (!IPV4_RE.test(tail)) return false;
    head = text.slice(0, lastColon + 1) + '0:0';
    groupsForV4 = 0;
  }
  const halves = head.split('::');
  if (halves.length > 2) return false;
  const parse = (part: string): string[] | undefined => {
    if (part === '') return [];
    const groups = part.split(':');
    return groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)) ? groups : undefined;
  };
  const left = parse(halves[0] ?? '');
  const right = halves.length === 2 ? parse(halves[1] ?? '') : [];
  if (!left || !right) return false;
  const count = left.length + right.length + groupsForV4;
  return halves.length === 2 ? count < 8 : count === 8;
}

function cidr(text: string, v6: boolean): boolean {
  const match = /^(.+)\/(\d+)$/.exec(text);
  if (!match) return false;
  const bits = Number(match[2]);
  const address = match[1] ?? '';
  return v6 ? isIpv6(address) && bits > 7 && bits <= 128 : IPV4_RE.test(address) && bits > 7 && bits <= 32;
}

const DNS_LABEL = '[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?';
const DNS_RE = new RegExp(`^(${DNS_LABEL}\\.)*${DNS_LABEL}$`);
const ID_RE = /^[a-z][a-z0-9\-_.]*[a-z0-9]$/i;
const VOLUME_ID_RE = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$/i;
const CONFIGID_RE = /^[a-z][a-z0-9_-]+$/i;
const TAG_RE = /^[a-z0-9_][a-z0-9_\-+.]*$/i;

/** PVE's `split_list`: splits on NUL, commas, semicolons and whitespace, dropping empty items. */
function splitList(value: string): string[] {
  return value.split(/[\0,;\s]+/).filter((item) => item !== '');
}

const list =
  (check: FormatCheck): FormatCheck =>
  (value) => {
    for (const item of splitList(value)) {
      const error = check(item);
      if (error !== undefined) return error;
    }
    return undefined;
  };

let zoneCache: ReadonlySet<string> | undefined;
function timezones(): ReadonlySet<string> {
  if (zoneCache) return zoneCache;
  const zones = new Set<string>(['UTC']);
  try {
    for (const line of readFileSync('/usr/share/zoneinfo/zone.tab', 'utf8').split('\n')) {
      if (/^\s*#/.test(line)) continue;
      const zone = line.split('\t')[2];
      if (zone) zones.add(zone);
    }
  } catch {
    // no tzdata: accept Area/City shapes below
  }
  zoneCache = zones;
  return zones;
}

/** The PVE privileges the simulator knows (for `privs` of `POST /access/ticket`). */
export const PVE_PRIVILEGES: readonly string[] = [
  'Datastore.Allocate', 'Datastore.AllocateSpace', 'Datastore.AllocateTemplate', 'Datastore.Audit',
  'Group.Allocate', 'Mapping.Audit', 'Mapping.Modify', 'Mapping.Use', 'Permissions.Modify', 'Pool.Allocate', 'Pool.Audit',
  'Realm.Allocate', 'Realm.AllocateUser', 'SDN.Allocate', 'SDN.Audit', 'SDN.Use', 'Sys.AccessNetwork', 'Sys.Audit',
  'Sys.Console', 'Sys.Incoming', 'Sys.Modify', 'Sys.PowerMgmt', 'Sys.Syslog', 'User.Modify', 'VM.Allocate', 'VM.Audit',
  'VM.Backup', 'VM.Clone', 'VM.Config.CDROM', 'VM.Config.CPU', 'VM.Config.Cloudinit', 'VM.Config.Disk',
  'VM.Config.HWType', 'VM.Config.Memory', 'VM.Config.Network', 'VM.Config.Options', 'VM.Console', 'VM.GuestAgent.Audit',
  'VM.GuestAgent.FileRead', 'VM.GuestAgent.FileSystemMgmt', 'VM.GuestAgent.FileWrite', 'VM.GuestAgent.Unrestricted',
  'VM.Migrate', 'VM.PowerMgmt', 'VM.Replicate', 'VM.Snapshot', 'VM.Snapshot.Rollback',
];

/** The storage content types PVE knows. */
export const STORAGE_CONTENT_TYPES: readonly string[] = ['images', 'rootdir', 'vztmpl', 'iso', 'backup', 'snippets', 'import'];

function mpString(value: string): string | undefined {
  if (/\/\.\.?\//.test(value) || /\/\.\.?$/.test(value) || /^\.\.\//.test(value)) return `${value} contains illegal character sequences\n`;
  return undefined;
}

const ipv4Config: FormatCheck = (v) =>
  /^(?:dhcp|manual)$/.test(v) || cidr(v, false) ? undefined : 'value does not look like a valid ipv4 network configuration\n';
const ipv6Config: FormatCheck = (v) =>
  /^(?:auto|dhcp|manual)$/.test(v) || cidr(v, true) ? undefined : 'value does not look like a valid ipv6 network configuration\n';

/** Every named format the simulator's parameter rules use. */
export const FORMATS: Readonly<Record<string, FormatCheck>> = {
  'pve-node': (v) => (/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(v) ? undefined : 'value does not look like a valid node name\n'),
  'pve-vmid': (v) => (/^[1-9][0-9]{2,8}$/.test(v) ? undefined : 'value does not look like a valid VM ID\n'),
  'pve-storage-id': (v) => (ID_RE.test(v) ? undefined : `storage ID '${v}' contains illegal characters\n`),
  'pve-configid': (v) => (CONFIGID_RE.test(v) ? undefined : `invalid configuration ID '${v}'\n`),
  'pve-configid-list': list((v) => (CONFIGID_RE.test(v) ? undefined : `invalid configuration ID '${v}'\n`)),
  'pve-realm': (v) => (/^[A-Za-z][A-Za-z0-9.\-_]+$/.test(v) ? undefined : 'value does not look like a valid realm\n'),
  'pve-priv-list': list((v) => (PVE_PRIVILEGES.includes(v) ? undefined : `invalid privilege name '${v}'\n`)),
  'pve-poolid': (v) => (/^[A-Za-z0-9.\-_]+$/.test(v) ? undefined : `pool name '${v}' contains invalid characters\n`),
  'pve-storage-content': (v) => (v === 'none' || STORAGE_CONTENT_TYPES.includes(v) ? undefined : `invalid content type '${v}'\n`),
  'pve-storage-content-list': list((v) => (v === 'none' || STORAGE_CONTENT_TYPES.includes(v) ? undefined : `invalid content type '${v}'\n`)),
  'pve-volume-id': (v) => (VOLUME_ID_RE.test(v) ? undefined : `unable to parse volume ID '${v}'\n`),
  'pve-lxc-mp-string': mpString,
  'pve-lxc-dev-string': (v) => (/\/\.\.?(?:\/|$)/.test(v) || !/^\/dev\//.test(v) ? `${v} is not a valid device path\n` : undefined),
  'dns-name': (v) => (DNS_RE.test(v) ? undefined : 'value does not look like a valid DNS name\n'),
  'dns-name-list': list((v) => (DNS_RE.test(v) ? undefined : 'value does not look like a valid DNS name\n')),
  // pve-container's verify_ip_with_ll_iface: `fe80:…%iface`, else any IP (pve_verify_ip's text).
  'lxc-ip-with-ll-iface-list': list((v) => {
    const linkLocal = /^(fe80:[^%]+)%(.*)$/i.exec(v);
    if (linkLocal && isIpv6(linkLocal[1] ?? '') && /^[a-z][a-z0-9_]{1,20}([:.]\d+)?$/i.test(linkLocal[2] ?? '')) return undefined;
    return IPV4_RE.test(v) || isIpv6(v) ? undefined : 'value does not look like a valid IP address\n';
  }),
  'pve-tag-list': (v) => {
    const tags = v.split(/[;,\s]+/).filter((t) => t !== '');
    return tags.every((t) => TAG_RE.test(t)) ? undefined : 'invalid characters in tag\n';
  },
  'pve-startup-order': (v) => {
    for (const part of v.split(',')) {
      if (/^\s*$/.test(part)) continue;
      if (!/^(?:(?:order=)?\d+|up=\d+|down=\d+)$/.test(part)) return 'unable to parse startup options\n';
    }
    return v === '' ? 'unable to parse startup options\n' : undefined;
  },
  'pve-ct-timezone': (v) => {
    if (v === 'host' || timezones().has(v)) return undefined;
    if (timezones().size <= 1 && /^[A-Za-z_]+(?:\/[A-Za-z0-9_+-]+)+$/.test(v)) return undefined;
    return `invalid time zone '${v}'\n`;
  },
  ipv4: (v) => (IPV4_RE.test(v) ? undefined : 'value does not look like a valid IPv4 address\n'),
  ipv6: (v) => (isIpv6(v) ? undefined : 'value does not look like a valid IPv6 address\n'),
  'mac-addr': (v) =>
    /^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$/i.test(v) ? undefined : 'value does not look like a valid unicast MAC address\n',
  'pve-ipv4-config': ipv4Config,
  'pve-ipv6-config': ipv6Config,
  'pve-task-status-type-list': list((v) => (/^(ok|error|warning|unknown)$/i.test(v) ? undefined : `invalid status '${v}'\n`)),
  'disk-size': (v) => (/^\d+(\.\d+)?[KMGT]?$/.test(v) ? undefined : `value does not look like a valid disk size: ${v}\n`),
};
