/**
 * What the lifecycle commands share: `--config FILE` (LxcriOptions as JSON, `LXCRI_CONFIG` as the
 * default) → a `Lxcri`, call options with the command's abort signal, and a progress line on a TTY.
 *
 * @module
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { Lxcri, type LxcriCallOptions, type LxcriProgress } from '../lxcri/lxcri.js';
import type { LxcriOptions } from '../lxcri/options.js';
import type { CliIo } from './types.js';
import { readJsonFile, UsageError } from './util.js';

/** The `--config` option every lifecycle command takes. */
export const CONFIG_OPTION = { config: { type: 'string' } } as const;

/** Usage lines of {@link CONFIG_OPTION}. */
export const CONFIG_USAGE = `  --config FILE        LxcriOptions as JSON (default: $LXCRI_CONFIG; without either, the defaults:
                       state in /var/lib/lxcri, no images, crun/runc only). Relative paths in the
                       file (stateDir, images, policy) are relative to the file`;

/** Reads the options named by `--config` or `LXCRI_CONFIG` (an empty object without either). */
export async function readLxcriOptions(io: CliIo, config: unknown): Promise<LxcriOptions> {
  const file = typeof config === 'string' && config !== '' ? config : io.env['LXCRI_CONFIG'];
  if (file === undefined || file === '') return {};
  const value = await readJsonFile(io, file, 'config');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new UsageError(`config ${file} must hold a JSON object`);
  const base = dirname(resolve(io.cwd, file));
  const o = { ...(value as Record<string, unknown>) };
  const rel = (p: unknown): unknown => (typeof p === 'string' && !isAbsolute(p) ? resolve(base, p) : p);
  if ('stateDir' in o) o['stateDir'] = rel(o['stateDir']);
  if (typeof o['policy'] === 'string') o['policy'] = rel(o['policy']);
  if (typeof o['images'] === 'string') o['images'] = rel(o['images']);
  else if (Array.isArray(o['images'])) o['images'] = o['images'].map(rel);
  return o as LxcriOptions;
}

/** A `Lxcri` from the command's `--config`. Close it (or `await using`) when done. */
export async function openLxcri(io: CliIo, config: unknown): Promise<Lxcri> {
  return new Lxcri(await readLxcriOptions(io, config));
}

function describe(p: LxcriProgress): string {
  const amount = p.done !== undefined ? ` ${(p.done / 1048576).toFixed(1)}${p.total ? `/${(p.total / 1048576).toFixed(1)}` : ''} MiB` : '';
  return `${p.step}${p.phase ? ` ${p.phase}` : ''}${p.event === 'end' && p.ms !== undefined ? ` ${p.ms} ms` : ''}${amount}`;
}

/** Call options: the command's signal, and a progress line on stderr when it is a TTY. */
export function callOptions(io: CliIo): LxcriCallOptions & { finish(): void } {
  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  let shown = false;
  return {
    ...(io.signal ? { signal: io.signal } : {}),
    ...(tty
      ? {
          onProgress: (p: LxcriProgress) => {
            io.stderr.write(`\r\x1b[2K${describe(p).slice(0, 100)}`);
            shown = true;
          },
        }
      : {}),
    finish() {
      if (shown) io.stderr.write('\r\x1b[2K');
    },
  };
}
