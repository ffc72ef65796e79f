/**
 * Proxmox VE task ids (UPIDs).
 *
 * Format (pve-common `PVE/UPID.pm`):
 * `UPID:<node>:<pid 8 hex>:<pstart 8-9 hex>:<starttime 8 hex>:<type>:<id>:<user>:` — note the
 * trailing colon. `<user>` is `user@realm` or, for tasks started with an API token,
 * `user@realm!tokenid`.
 *
 * @module
 */
import { InvalidArgumentError } from '../errors.js';

/** The fields of a UPID. Numbers are decoded from hex. */
export interface Upid {
  /** The UPID text as given. */
  readonly upid: string;
  /** Node that runs the task: status and log must be asked of this node. */
  readonly node: string;
  /** Worker process id. */
  readonly pid: number;
  /** Process start time (clock ticks since boot). */
  readonly pstart: number;
  /** Task start time, seconds since the epoch. */
  readonly starttime: number;
  /** Worker type, e.g. `vzcreate`, `vzstart`, `imgcopy`. */
  readonly type: string;
  /** Worker id, usually the VMID (may be empty). */
  readonly id: string;
  /** User who started the task, without the token part (`root@pam`). */
  readonly user: string;
  /** API token name when the task was started with a token (`user@realm!tokenid` → `tokenid`). */
  readonly tokenid?: string;
}

const UPID_RE =
  /^UPID:([a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$/;

/**
 * Parses a UPID.
 *
 * @example
 * ```ts
 * parseUpid('UPID:pve1:0009E9B0:103F1191:660069E7:vzcreate:101:root@pam:').node; // 'pve1'
 * ```
 * @throws `InvalidArgumentError` (`ERR_INVALID_ARGUMENT`) (field `upid`) when the text is not a UPID.
 */
export function parseUpid(upid: string): Upid {
  const m = typeof upid === 'string' ? UPID_RE.exec(upid) : null;
  if (!m) {
    const shown = typeof upid === 'string' ? `'${upid.length > 200 ? `${upid.slice(0, 200)}…` : upid}'` : typeof upid;
    throw InvalidArgumentError.forField('upid', `not a Proxmox task id: ${shown}`);
  }
  const [, node, pid, pstart, starttime, type, id, user] = m as unknown as [string, string, string, string, string, string, string, string];
  const bang = user.indexOf('!');
  return Object.freeze({
    upid,
    node,
    pid: Number.parseInt(pid, 16),
    pstart: Number.parseInt(pstart, 16),
    starttime: Number.parseInt(starttime, 16),
    type,
    id,
    user: bang === -1 ? user : user.slice(0, bang),
    ...(bang === -1 ? {} : { tokenid: user.slice(bang + 1) }),
  });
}

/** True when `text` is a well-formed UPID. */
export function isUpid(text: unknown): text is string {
  return typeof text === 'string' && UPID_RE.test(text);
}
