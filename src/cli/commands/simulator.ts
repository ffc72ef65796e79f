import { once } from 'node:events';
import { startPveSimulator } from '../../testing/server.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, UsageError } from '../util.js';

const usage = `Usage: lxcri simulator [--port N] [--host ADDR] [--pve-version 8.4|9.1] [--nodes pve1,pve2] [options]

Runs the Proxmox VE API simulator (the one exported as 'proxmox-lxcri/testing') as an HTTPS
server with a self-signed certificate until interrupted (Ctrl-C). It behaves like PVE 8.4 or 9.1
on the endpoints proxmox-lxcri uses: tickets, CSRF, API tokens, TFA, LXC create/start/stop/
delete, storage upload, tasks.

Options:
  --port N                TCP port (default 0: a free port)
  --host ADDR             listen address (default 127.0.0.1)
  --pve-version V         8.4 or 9.1 (default 9.1)
  --nodes LIST            comma-separated node names (default pve1)
  --data-dir DIR          where storages keep their files (default: a temporary directory)
  --task-duration-ms N    how long worker tasks run (default 100)

Prints one JSON object when ready: { url, apiUrl, fingerprint256, pveVersion, nodes, username,
password, tokenId, tokenSecret, authorization, dataDir }. The password and token are generated
at start; use them only against this simulator.`;

/** `lxcri simulator`: run the PVE simulator over HTTPS. */
export const simulatorCommand: CliCommand = {
  name: 'simulator',
  summary: 'run the Proxmox VE API simulator over HTTPS (prints URL, fingerprint and a token)',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      port: { type: 'string' },
      host: { type: 'string' },
      'pve-version': { type: 'string' },
      nodes: { type: 'string' },
      'data-dir': { type: 'string' },
      'task-duration-ms': { type: 'string' },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0] ?? ''}`);
    const integer = (name: string, max: number): number | undefined => {
      const raw = values[name];
      if (raw === undefined) return undefined;
      if (typeof raw !== 'string' || !/^\d+$/.test(raw) || Number(raw) > max) throw new UsageError(`--${name} must be an integer from 0 to ${max}`);
      return Number(raw);
    };
    const port = integer('port', 65535);
    const taskMs = integer('task-duration-ms', 3_600_000);
    const version = values['pve-version'];
    if (version !== undefined && version !== '8.4' && version !== '9.1') throw new UsageError('--pve-version must be 8.4 or 9.1');
    const nodes = typeof values['nodes'] === 'string' ? values['nodes'].split(',').map((n) => n.trim()).filter((n) => n !== '') : undefined;
    if (nodes !== undefined && nodes.length === 0) throw new UsageError('--nodes needs at least one node name');

    const controller = new AbortController();
    const stop = (): void => controller.abort();
    const signals: NodeJS.Signals[] = io.signal ? [] : ['SIGINT', 'SIGTERM'];
    for (const s of signals) process.once(s, stop);
    io.signal?.addEventListener('abort', stop, { once: true });
    try {
      const sim = await startPveSimulator({
        ...(port !== undefined ? { port } : {}),
        ...(typeof values['host'] === 'string' ? { host: values['host'] } : {}),
        ...(version !== undefined ? { version } : {}),
        ...(nodes !== undefined ? { nodes } : {}),
        ...(typeof values['data-dir'] === 'string' ? { dataDir: values['data-dir'] } : {}),
        ...(taskMs !== undefined ? { taskDurationsMs: { default: taskMs } } : {}),
      });
      const creds = sim.state.credentials;
      printJson(io, {
        url: sim.url,
        apiUrl: sim.apiUrl,
        fingerprint256: sim.fingerprint256,
        pveVersion: sim.state.version,
        nodes: sim.state.nodes.map((n) => n.name),
        username: creds.username,
        password: creds.password,
        tokenId: creds.tokenId,
        tokenSecret: creds.tokenSecret,
        authorization: creds.authorization,
        dataDir: sim.state.dataDir,
      });
      io.stderr.write(`lxcri: PVE ${sim.state.version} simulator listening on ${sim.url} (Ctrl-C to stop)\n`);
      if (!controller.signal.aborted) await once(controller.signal, 'abort');
      await sim.close();
      return 0;
    } finally {
      for (const s of signals) process.removeListener(s, stop);
      io.signal?.removeEventListener('abort', stop);
    }
  },
};
