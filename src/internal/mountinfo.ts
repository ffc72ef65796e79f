/**
 * The one `/proc/self/mountinfo` reader (proc(5)): mount points with their optional fields.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

/** One line of mountinfo. */
export interface MountinfoEntry {
  /** Field 5, with the octal escapes (`\040` for a space, ...) decoded. */
  mountPoint: string;
  /** The optional fields (`shared:N`, `master:N`, ...) between field 6 and the ` - ` separator. */
  optionalFields: string[];
}

/** Parses mountinfo text; lines that are empty or lack the ` - ` separator are skipped. */
export function parseMountinfo(text: string): MountinfoEntry[] {
  const out: MountinfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    const mountPoint = fields[4];
    if (separator < 6 || mountPoint === undefined) continue;
    out.push({ mountPoint: unescapeMountinfo(mountPoint), optionalFields: fields.slice(6, separator) });
  }
  return out;
}

/** Reads and parses a mountinfo file (default `/proc/self/mountinfo`). */
export async function readMountinfo(path = '/proc/self/mountinfo'): Promise<MountinfoEntry[]> {
  return parseMountinfo(await readFile(path, 'utf8'));
}

/** Mount points of `entries` at or below `dir` (resolved), in mount order. */
export function mountPointsBelow(entries: readonly MountinfoEntry[], dir: string): string[] {
  const base = resolve(dir);
  return entries.map((e) => e.mountPoint).filter((p) => p === base || p.startsWith(`${base}/`));
}

/** Decodes the octal escapes (`\040`) the kernel writes for space, tab, newline and backslash. */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
