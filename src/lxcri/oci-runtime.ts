/**
 * Chooses the OCI runtime for this node (crun or runc, with the hybrid-cgroup workaround where crun
 * needs it) and probes what it supports, so validation decides as containerd does from the
 * runtime's `features` output.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { readMountinfo } from '../internal/mountinfo.js';
import { release } from 'node:os';
import { basename, join } from 'node:path';
import type { RuntimeHandlerFeatures } from '../cri/validate.js';
import type { OciRuntimeDriverOptions } from '../runtimes/crun/options.js';
import type { Logger } from '../logger.js';
import type { ResolvedLxcriOptions } from './options.js';

import { CRUN_HYBRID_CGROUP_PREFIX } from '../runtimes/crun/hybrid-cgroup.js';

/**
 * The crun workaround for hybrid cgroup v1/v2 hosts (DEVELOPERS.md): a private mount namespace
 * without `/sys/fs/cgroup/unified`. The driver applies it to `create` inside its monitor.
 */
export { CRUN_HYBRID_CGROUP_PREFIX };

/** The OCI runtime lxcri drives on this node, and what it supports. */
export interface OciRuntimeSetup {
  /** Whether a runtime was found and answers `--version`. */
  available: boolean;
  /** Why (not) available, for the selection trace. */
  detail: string;
  /** The driver options (binary, prefix, global args, state dir). */
  driver: OciRuntimeDriverOptions;
  /** `crun`, `runc`, or the binary's name. */
  name: string;
  /** First line of `--version`. */
  version?: string | undefined;
  /** What validation may rely on. */
  features: RuntimeHandlerFeatures;
  /** Where the features came from: the runtime's `features` command, or its version and the kernel. */
  featuresSource: 'features' | 'version';
}

function exec(file: string, args: readonly string[], timeoutMs: number): Promise<{ ok: boolean; stdout: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, maxBuffer: 1024 * 1024 }, (error, stdout) => resolve({ ok: !error, stdout: String(stdout) }));
  });
}

/** True when `/sys/fs/cgroup/unified` is a mount point (a hybrid cgroup v1/v2 host). */
export async function isHybridCgroupHost(): Promise<boolean> {
  const mounts = await readMountinfo().catch(() => []);
  return mounts.some((m) => m.mountPoint === '/sys/fs/cgroup/unified');
}

interface FeaturesOutput {
  mountOptions?: string[];
  linux?: { namespaces?: string[] };
}

/**
 * Picks and probes the OCI runtime. `runtime: 'auto'` takes crun, unless this is a hybrid cgroup
 * host and runc is there (crun 1.8 refuses hybrid hosts; runc runs them with cgroups); crun alone
 * on a hybrid host gets the workaround and `--cgroup-manager=disabled`.
 */
export async function setUpOciRuntime(options: ResolvedLxcriOptions, logger: Logger): Promise<OciRuntimeSetup> {
  const o = options.oci;
  const timeout = Math.min(o.timeoutMs, 10_000);
  const versions = new Map<string, string | undefined>();
  const version = async (bin: string): Promise<string | undefined> => {
    if (!versions.has(bin)) {
      const r = await exec(bin, ['--version'], timeout);
      versions.set(bin, r.ok ? (r.stdout.split('\n').find((l) => l.trim() !== '') ?? '').trim() : undefined);
    }
    return versions.get(bin);
  };
  const hybrid = await isHybridCgroupHost();
  let binary = o.runtime;
  let prefix = o.commandPrefix;
  let cgroupManager = o.cgroupManager;
  if (binary === 'auto') {
    const [crun, runc] = await Promise.all([version('crun'), version('runc')]);
    binary = crun !== undefined && !(hybrid && runc !== undefined) ? 'crun' : runc !== undefined ? 'runc' : 'crun';
    if (binary === 'crun' && hybrid) {
      prefix ??= [...CRUN_HYBRID_CGROUP_PREFIX];
      cgroupManager ??= 'disabled';
    }
  }
  const name = basename(binary);
  const found = await version(binary);
  const globalArgs = ['--root', o.root ?? join(options.stateDir, 'run', name), ...o.globalArgs];
  if (cgroupManager === 'systemd') globalArgs.push('--systemd-cgroup');
  if (cgroupManager === 'disabled') globalArgs.push('--cgroup-manager=disabled');
  const driver: OciRuntimeDriverOptions = {
    runtime: binary,
    commandPrefix: prefix ?? [],
    globalArgs,
    stateDir: join(options.stateDir, 'oci'),
    timeoutMs: o.timeoutMs,
    logger,
  };
  if (found === undefined) {
    return { available: false, detail: `${binary} is not installed or does not answer --version`, driver, name, features: {}, featuresSource: 'version' };
  }
  const features = await exec(binary, ['features'], timeout);
  let parsed: FeaturesOutput | undefined;
  if (features.ok) {
    try {
      parsed = JSON.parse(features.stdout) as FeaturesOutput;
    } catch {
      parsed = undefined;
    }
  }
  const detail = `${found}${prefix && prefix.length > 0 ? ' (with a command prefix)' : ''}; kernel ${release()}`;
  if (parsed) {
    const namespaces = parsed.linux?.namespaces;
    return {
      available: true,
      detail,
      driver,
      name,
      version: found,
      featuresSource: 'features',
      features: {
        recursiveReadOnlyMounts: (parsed.mountOptions ?? []).includes('rro'),
        ...(namespaces ? { userNamespaces: namespaces.includes('user') } : {}),
      },
    };
  }
  // No `features` command (crun before 1.9, runc before 1.1): recursive read-only mounts need
  // mount_setattr (Linux 5.12) and a runtime that knows `rro`; neither can be proven, so no.
  logger.debug({ runtime: binary }, 'the OCI runtime has no features command; assuming no recursive read-only mounts');
  return { available: true, detail, driver, name, version: found, featuresSource: 'version', features: { recursiveReadOnlyMounts: false } };
}
