/**
 * The files a fresh Node process loads when it imports some modules (through tsx): ES modules seen
 * by a load hook, CommonJS ones from require's cache. For tests that pin a short-lived command's
 * import graph (no zod on a pull's or an unpack's path).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Imports `modules` (paths relative to the repository) in a new process and lists what it loaded. */
export function modulesLoadedBy(modules: readonly string[]): { files: string[]; stderr: string } {
  const imports = modules.map((m) => `await import(${JSON.stringify(fileURLToPath(new URL(m, `file://${ROOT}/`)))});`).join('\n');
  const script = `
    const urls = [];
    const { register, createRequire } = await import('node:module');
    const { MessageChannel } = await import('node:worker_threads');
    const { port1, port2 } = new MessageChannel();
    let flushed;
    port1.on('message', (url) => (url === null ? flushed() : urls.push(url)));
    const hooks = "let port; export function initialize(data) { port = data.port; port.on('message', () => port.postMessage(null)); port.unref(); } export async function load(url, context, next) { port.postMessage(url); return next(url, context); }";
    register('data:text/javascript,' + encodeURIComponent(hooks), { data: { port: port2 }, transferList: [port2] });
    ${imports}
    await new Promise((resolve) => { flushed = resolve; port1.postMessage('flush'); });
    port1.close();
    process.stdout.write(JSON.stringify([...urls, ...Object.keys(createRequire(import.meta.url).cache)]));`;
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: ROOT });
  return { files: result.stdout ? (JSON.parse(result.stdout) as string[]) : [], stderr: result.stderr };
}

/** The zod files among `files`. */
export const zodFiles = (files: readonly string[]): string[] => files.filter((f) => /node_modules[\\/]zod[\\/]/.test(f));
