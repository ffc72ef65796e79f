/**
 * Device nodes, FIFOs and overlayfs whiteouts (character device 0:0), made in one child process
 * per run of them. Node has no `mknod` call: one `mknod` process per node costs about 2.5 ms on
 * the calling thread (a layer with hundreds of whiteouts spent seconds on it). A run of nodes is
 * made by one `perl` process (`perl-base` is part of every Debian and Proxmox VE host) calling
 * `mknodat(2)` for each (the number from `internal/syscalls.ts`); where that is not possible — no
 * perl, an architecture whose system call numbers are not known there, a device number past the
 * 32-bit encoding — or when the batch fails, each node left is made with coreutils' `mknod`, whose
 * error is the one reported.
 *
 * @internal
 * @module
 */
import { spawnSync } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { syscallNumbers } from '../../internal/syscalls.js';

/** One node to make: never there yet, its parent a real directory. Made with mode 0600. */
export interface NodeToMake {
  path: string;
  type: 'char' | 'block' | 'fifo';
  major: number;
  minor: number;
}

const S_IFMT = 0o170000;
const TYPE_BITS = { char: 0o020000, block: 0o060000, fifo: 0o010000 } as const;
/** Dies at the first failure: `PATH: error`. umask 0, so each node is exactly 0600. */
const SCRIPT = 'umask 0; my $nr = shift; while (@ARGV) { my ($p, $m, $d) = splice(@ARGV, 0, 3); syscall($nr, -100, $p, $m + 0, $d + 0) == 0 or die "$p: $!\\n" }';

/** The kernel's 32-bit device encoding (`new_encode_dev`), or undefined past it. */
function encodeDev(major: number, minor: number): number | undefined {
  if (!Number.isInteger(major) || !Number.isInteger(minor) || major < 0 || minor < 0 || major > 0xfff || minor > 0xfffff) return undefined;
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

/** The PATH on which perl could not be started (it is not tried again with that PATH). */
let noPerlOn: string | undefined;

function exists(node: NodeToMake): boolean {
  const st = lstatSync(node.path, { throwIfNoEntry: false });
  return st !== undefined && (st.mode & S_IFMT) === TYPE_BITS[node.type];
}

function makeOne(node: NodeToMake): string | undefined {
  const kind = node.type === 'fifo' ? ['p'] : [node.type === 'char' ? 'c' : 'b', String(node.major), String(node.minor)];
  const result = spawnSync('mknod', ['-m', '0600', '--', node.path, ...kind], { encoding: 'utf8' });
  return result.status === 0 ? undefined : `mknod failed: ${(result.stderr || String(result.error ?? '')).trim().slice(0, 300)}`;
}

/**
 * Makes the nodes, in order. Returns undefined when all were made, else the index of the first
 * that could not be and why (the nodes before it are made; the ones after it are not tried).
 */
export function makeNodes(nodes: readonly NodeToMake[]): { index: number; message: string } | undefined {
  const nr = syscallNumbers(['mknodat']);
  const path = process.env['PATH'] ?? '';
  const devs = nodes.map((n) => (n.type === 'fifo' ? 0 : encodeDev(n.major, n.minor)));
  let start = 0;
  if (nr !== undefined && noPerlOn !== path && devs.every((d) => d !== undefined)) {
    const args = nodes.flatMap((n, i) => [n.path, String(TYPE_BITS[n.type] | 0o600), String(devs[i])]);
    const result = spawnSync('perl', ['-e', SCRIPT, nr, ...args], { encoding: 'utf8' });
    if (result.status === 0) return undefined;
    if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') noPerlOn = path;
    // the batch stopped at a node: the ones made stay, the rest go one by one
    while (start < nodes.length && exists(nodes[start] as NodeToMake)) start++;
  }
  for (let i = start; i < nodes.length; i++) {
    const message = makeOne(nodes[i] as NodeToMake);
    if (message !== undefined) return { index: i, message };
  }
  return undefined;
}
