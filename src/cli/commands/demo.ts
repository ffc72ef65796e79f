import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Lxcri, type CreateContainerResult } from '../../lxcri/lxcri.js';
import { mountsBelow } from '../../oci/bundle/write-bundle.js';
import { buildDemoImage } from '../../testing/demo-image.js';
import { startPveSimulator } from '../../testing/server.js';
import type { CliCommand, CliIo } from '../types.js';
import { parseCommandArgs, printJson, UsageError } from '../util.js';

const usage = `Usage: lxcri demo [--json] [--keep DIR] [--pve-version 8.4|9.1]

Runs the main job on its embedded defaults, offline: starts the bundled Proxmox VE simulator
(HTTPS, pinned certificate, API token), builds a small demo OCI image (busybox-static from this
host when it has one, else a tiny generated program), runs a pod, and creates one container per
runtime through createContainer():
  - "hello" under crun/runc on this node — only as root with crun or runc installed (it is started,
    and its output is read back from its CRI log);
  - "lxc-hello" as a Proxmox VE LXC container on the simulator (created and started).
Prints each runtime decision with its trace, what was created, and the timings; then removes
everything it made (unless --keep).

Options:
  --json               print one JSON object { containers: [ { runtime, containerId, state, ... } ] }
  --keep DIR           keep the state (records, bundles, layer cache) in DIR; do not clean up
  --pve-version V      the simulator's Proxmox VE version, 8.4 (rootfs templates) or 9.1 (OCI images; default)`;

const POLICY = { defaultRuntime: 'crun', rules: [{ match: { containerName: ['lxc-*'] }, runtime: 'proxmox-lxc' }] };

interface DemoEntry {
  runtime: string;
  containerId?: string | undefined;
  state: string;
  name: string;
  podSandboxId?: string | undefined;
  ociRuntime?: string | undefined;
  decision?: { runtime: string; reason: string; trace: unknown[] } | undefined;
  node?: string | undefined;
  vmid?: number | undefined;
  bundlePath?: string | undefined;
  output?: string[] | undefined;
  timings?: CreateContainerResult['timings'] | undefined;
  skipped?: string | undefined;
}

function whyNoOci(available: boolean, detail: string): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (overlay mounts, namespaces and cgroups of real containers)';
  if (!available) return `no OCI runtime: ${detail} (apt-get install crun or runc)`;
  return undefined;
}

function say(io: CliIo, json: boolean, line: string): void {
  if (!json) io.stdout.write(`${line}\n`);
}

/** `lxcri demo`: the README's first command. */
export const demoCommand: CliCommand = {
  name: 'demo',
  summary: 'create real containers on the embedded defaults (simulator + demo image)',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { json: { type: 'boolean' }, keep: { type: 'string' }, 'pve-version': { type: 'string' } });
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0] ?? ''}`);
    const json = values['json'] === true;
    const version = values['pve-version'] ?? '9.1';
    if (version !== '8.4' && version !== '9.1') throw new UsageError('--pve-version must be 8.4 or 9.1');
    const keep = typeof values['keep'] === 'string' ? resolve(io.cwd, values['keep']) : undefined;
    const work = keep ?? (await mkdtemp(join(tmpdir(), 'lxcri-demo-')));
    const signal = io.signal;
    const call = signal ? { signal } : {};
    const entries: DemoEntry[] = [];

    const sim = await startPveSimulator({ version, taskDurationsMs: { default: 20 }, dataDir: join(work, 'pve-data') }, signal ? { signal } : {});
    let lxcri: Lxcri | undefined;
    try {
      say(io, json, `Proxmox VE ${version} simulator at ${sim.url} (certificate pinned: ${sim.fingerprint256.slice(0, 23)}…)`);
      const image = await buildDemoImage(join(work, 'image'));
      say(io, json, `demo image ${image.reference} (${image.hasShell ? 'busybox from this host' : 'generated /bin/hello'}), ${image.manifestDigest.slice(0, 19)}…`);
      lxcri = new Lxcri({
        stateDir: join(work, 'state'),
        images: image.layout,
        policy: POLICY,
        proxmox: {
          client: sim.clientOptions(),
          lxc: { workDir: join(work, 'templates') },
        },
      });
      // One pod per runtime: an LXC container cannot share a pod's namespaces with crun containers.
      const oci = await lxcri.ociRuntime();
      const ociSkip = whyNoOci(oci.available, oci.detail);
      const plan: { name: string; pod: string; skip?: string | undefined }[] = [
        { name: 'hello', pod: 'demo', skip: ociSkip },
        { name: 'lxc-hello', pod: 'demo-lxc' },
      ];
      for (const { name, pod: podName, skip } of plan) {
        if (skip) {
          entries.push({ runtime: 'crun', name, state: 'skipped', skipped: skip });
          say(io, json, `\n[${name}] skipped under crun/runc: ${skip}`);
          continue;
        }
        const pod = { metadata: { name: podName, uid: `${podName}-uid`, namespace: 'default' }, hostname: podName, log_directory: join(work, 'logs', podName) };
        const { podSandboxId } = await lxcri.runPodSandbox(pod, call);
        const request = { pod_sandbox_id: podSandboxId, config: { metadata: { name }, image: { image: image.reference }, log_path: `${name}.log` }, sandbox_config: pod };
        const result = await lxcri.createContainer(request, call);
        const under = result.runtime === 'crun' ? `${result.runtime} (runs as ${oci.name})` : result.runtime;
        say(io, json, `\n[${name}] pod ${podSandboxId.slice(0, 12)}, runtime ${under}: ${result.decision.reason}`);
        for (const t of result.decision.trace) say(io, json, `    ${t.step}: ${t.outcome}${t.runtime ? ` (${t.runtime})` : ''} — ${t.detail}`);
        say(io, json, `  created ${result.containerId.slice(0, 12)} ${result.bundlePath ? `bundle ${result.bundlePath}` : `CT ${String(result.vmid)} on ${String(result.node)}`}`);
        say(io, json, `  timings (ms): ${Object.entries(result.timings).map(([k, v]) => `${k} ${v}`).join(', ')}`);
        await lxcri.startContainer(result.containerId, call);
        let output: string[] | undefined;
        if (result.runtime === 'crun') {
          const status = await waitForExit(lxcri, result.containerId, signal);
          const log = await readFile(status.logPath, 'utf8').catch(() => '');
          output = log.split('\n').filter(Boolean).map((line) => line.replace(/^\S+ (stdout|stderr) [FP] /, ''));
          for (const line of output) say(io, json, `  output: ${line}`);
        }
        const status = await lxcri.containerStatus(result.containerId, call);
        say(io, json, `  state ${status.state}${status.state === 'CONTAINER_EXITED' ? ` (exit code ${status.exitCode})` : ''}`);
        entries.push({
          runtime: result.runtime,
          name,
          podSandboxId,
          containerId: result.containerId,
          state: status.state,
          decision: { runtime: result.decision.runtime, reason: result.decision.reason, trace: result.decision.trace },
          ...(result.runtime === 'crun' ? { ociRuntime: oci.name } : {}),
          ...(result.node ? { node: result.node, vmid: result.vmid } : {}),
          ...(result.bundlePath ? { bundlePath: result.bundlePath } : {}),
          ...(output ? { output } : {}),
          timings: result.timings,
        });
      }
      if (keep) say(io, json, `\nkept: state in ${join(work, 'state')} (lxcri ps --config FILE with {"stateDir": "${join(work, 'state')}"})`);
      else say(io, json, '\nremoving the containers, pods, bundles and CTs (lxcri demo --keep DIR keeps them)');
      if (json) printJson(io, { containers: entries, pveVersion: version });
      return 0;
    } finally {
      if (lxcri && !keep) {
        for (const pod of await lxcri.listPodSandboxes()) await lxcri.removePodSandbox(pod.id).catch((e: unknown) => io.stderr.write(`lxcri: cleaning up pod ${pod.id}: ${String(e)}\n`));
      }
      await lxcri?.close();
      await sim.close();
      // never delete through a mount a failed clean-up left behind
      if (!keep && (await mountsBelow(work)).length === 0) await rm(work, { recursive: true, force: true });
    }
  },
};

/** Polls the container's status until it has exited (the demo command exits at once). */
async function waitForExit(lxcri: Lxcri, id: string, signal: AbortSignal | undefined): Promise<{ logPath: string }> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const status = await lxcri.containerStatus(id, signal ? { signal } : {});
    if (status.state === 'CONTAINER_EXITED' || Date.now() > deadline) return status;
    await new Promise((r) => setTimeout(r, 25));
  }
}
