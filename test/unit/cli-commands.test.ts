import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { commands } from '../../src/cli/commands/index.js';
import { main } from '../../src/cli/main.js';
import { captureIo } from '../helpers/cli-io.js';

describe('lxcri command list', () => {
  it('names and summarises each command as its module does', async () => {
    const names = new Set<string>();
    for (const entry of commands) {
      const loaded = await entry.load();
      expect({ name: loaded.name, summary: loaded.summary }).toEqual({ name: entry.name, summary: entry.summary });
      expect(loaded.usage).toContain(`lxcri ${entry.name}`);
      names.add(entry.name);
    }
    expect(names.size).toBe(commands.length);
  });

  it('prints a lazily loaded command usage for `help NAME` and `NAME --help`', async () => {
    const pull = await commands.find((c) => c.name === 'pull')?.load();
    let io = captureIo();
    expect(await main(['help', 'pull'], io)).toBe(0);
    expect(io.out()).toBe(`${pull?.usage}\n`);
    io = captureIo();
    expect(await main(['pull', '--help'], io)).toBe(0);
    expect(io.out()).toBe(`${pull?.usage}\n`);
  });

  it('reports a command whose module cannot be loaded as a failure (exit 1, JSON error)', async () => {
    const io = captureIo();
    const broken = { name: 'broken', summary: 'cannot load', load: () => Promise.reject(new Error('Cannot find module ./broken.js')) };
    expect(await main(['broken'], io, [broken])).toBe(1);
    expect(io.json()).toEqual({ error: { code: 'ERR_INTERNAL', message: 'Cannot find module ./broken.js' } });
    expect(io.err()).toContain('Cannot find module ./broken.js');
  });

  it('loads only the chosen command: `pull --help` and `images --help` import neither zod nor undici, `validate --help` does import zod', () => {
    // a fresh process (through tsx) whose module loader reports every module it loads
    const loaded = (command: string): string[] => {
      // the hooks thread answers 'flush' after every URL it sent: the port keeps their order
      const hooks = `let port; export function initialize(data) { port = data.port; port.on('message', () => port.postMessage(null)); port.unref(); }
        export async function load(url, context, next) { port.postMessage(url); return next(url, context); }`;
      const script = `
        import { register } from 'node:module';
        import { MessageChannel } from 'node:worker_threads';
        const { port1, port2 } = new MessageChannel();
        const urls = [];
        let flushed;
        port1.on('message', (url) => (url === null ? flushed() : urls.push(url)));
        register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}), { data: { port: port2 }, transferList: [port2] });
        const { main } = await import(${JSON.stringify(fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url)))});
        await main([${JSON.stringify(command)}, '--help'], { stdout: { write() {} }, stderr: process.stderr, env: {}, cwd: process.cwd() });
        const { createRequire } = await import('node:module');
        await new Promise((resolve) => { flushed = resolve; port1.postMessage('flush'); });
        port1.close();
        process.stdout.write(JSON.stringify([...urls, ...Object.keys(createRequire(import.meta.url).cache)]));`;
      const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
      expect(result.stderr).toBe('');
      const files = JSON.parse(result.stdout) as string[];
      return [...new Set(files.map((f) => /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(f)?.[1]).filter((p): p is string => p !== undefined))].sort();
    };
    for (const command of ['pull', 'images']) {
      const packages = loaded(command);
      expect(packages).not.toContain('zod');
      expect(packages).not.toContain('undici');
    }
    expect(loaded('validate')).toContain('zod');
  });
});
