/**
 * Test prerequisites: a test that needs root, a system tool or reference data from ../shared asks
 * here. Outside CI a missing prerequisite skips the test with a printed reason; in CI (`CI=true`)
 * it is a failure, because .ci/run installs and exports everything the tests need.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const inCi = process.env['CI'] === 'true';
const printed = new Set<string>();

function unmet(reason: string): string {
  if (inCi) throw new Error(`CI=true but a test prerequisite is missing: ${reason}`);
  if (!printed.has(reason)) {
    printed.add(reason);
    process.stderr.write(`[skip] ${reason}\n`);
  }
  return reason;
}

const probed = new Map<string, boolean>();

/**
 * True when `name` is on PATH and answers `--version` (probed once per PATH).
 *
 * Do not branch a test on it: a test (or part of one) that needs a tool asks {@link missing} or
 * {@link available}, which print the reason locally and fail under `CI=true`.
 */
export function hasTool(name: string): boolean {
  const key = `${name}\0${process.env['PATH'] ?? ''}`;
  let found = probed.get(key);
  if (found === undefined) {
    try {
      execFileSync(name, ['--version'], { stdio: 'ignore', timeout: 10_000 });
      found = true;
    } catch {
      found = false;
    }
    probed.set(key, found);
  }
  return found;
}

/**
 * Returns `undefined` when every named tool is present (and, with `root`, we are root); otherwise
 * the reason to skip. Use as `describe.skipIf(missing(...))`. Throws in CI.
 */
export function missing(requirements: { tools?: readonly string[]; root?: boolean }): string | undefined {
  if (requirements.root && process.getuid?.() !== 0) return unmet('needs root');
  for (const tool of requirements.tools ?? []) {
    if (!hasTool(tool)) return unmet(`needs ${tool} on PATH`);
  }
  return undefined;
}

/**
 * For a check inside a test that runs only when its prerequisites are there (for example an
 * extra comparison with umoci, or xattrs in a canary snapshot): `true` when every requirement is
 * met; otherwise prints `[skip] <what>: <reason>` and returns `false` — and in CI (`CI=true`)
 * throws, so nothing is silently left untested there.
 */
export function available(requirements: { tools?: readonly string[]; root?: boolean }, what: string): boolean {
  const reason = requirements.root && process.getuid?.() !== 0 ? 'needs root' : (requirements.tools ?? []).filter((t) => !hasTool(t)).map((t) => `needs ${t} on PATH`)[0];
  if (reason === undefined) return true;
  unmet(`${what}: ${reason}`);
  return false;
}

/**
 * The path of reference data named by an environment variable that .ci/run sets
 * (PVE_API_SCHEMA, OCI_RUNTIME_SPEC_SCHEMA_DIR, OCI_IMAGE_SPEC_SCHEMA_DIR, CRI_PROTO, ...),
 * or a skip reason. Throws in CI when it is unset or the path does not exist.
 */
export function referencePath(envVar: string): { path: string; skip?: undefined } | { path?: undefined; skip: string } {
  const value = process.env[envVar];
  if (!value) return { skip: unmet(`${envVar} is not set (reference data from ../shared)`) };
  if (!existsSync(value)) return { skip: unmet(`${envVar}=${value} does not exist`) };
  return { path: value };
}
