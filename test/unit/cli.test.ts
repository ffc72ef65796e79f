import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { CliCommand } from '../../src/cli/types.js';
import { CriValidationError } from '../../src/errors.js';
import { captureIo as captureIoAt, type CapturedIo } from '../helpers/cli-io.js';

const captureIo = (): CapturedIo => captureIoAt();

const fake = (name: string, run: CliCommand['run']): CliCommand => ({ name, summary: `${name} summary`, usage: `Usage: lxcri ${name}`, run });

describe('lxcri main', () => {
  const list = [
    fake('ok', async (_args, io) => {
      io.stdout.write('{"ok":true}\n');
      return 0;
    }),
    fake('bad', async () => {
      throw new CriValidationError([{ path: 'config.image.image', code: 'required', message: 'image is required', grpcStatus: 'InvalidArgument' }]);
    }),
    fake('boom', async () => {
      throw new Error('disk on fire');
    }),
  ];

  it('lists the subcommands in --help', async () => {
    const io = captureIo();
    expect(await main(['--help'], io, list)).toBe(0);
    expect(io.out()).toContain('ok    ');
    expect(io.out()).toContain('bad summary');
  });

  it('prints a command usage with <command> --help', async () => {
    const io = captureIo();
    expect(await main(['ok', '--help'], io, list)).toBe(0);
    expect(io.out()).toBe('Usage: lxcri ok\n');
  });

  it('prints the package version', async () => {
    const io = captureIo();
    expect(await main(['--version'], io, list)).toBe(0);
    expect(io.out()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('exits 2 for unknown commands and invalid input, 1 for failures', async () => {
    let io = captureIo();
    expect(await main(['nope'], io, list)).toBe(2);
    expect(io.err()).toContain("unknown command 'nope'");
    io = captureIo();
    expect(await main(['bad'], io, list)).toBe(2);
    expect(JSON.parse(io.out())).toMatchObject({ error: { code: 'ERR_CRI_VALIDATION', grpcStatus: 'InvalidArgument' } });
    io = captureIo();
    expect(await main(['boom'], io, list)).toBe(1);
    expect(JSON.parse(io.out())).toEqual({ error: { code: 'ERR_INTERNAL', message: 'disk on fire' } });
    io = captureIo();
    expect(await main(['ok'], io, list)).toBe(0);
  });
});
