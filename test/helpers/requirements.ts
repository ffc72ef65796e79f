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

/** True when `name` is on PATH and answers `--version`. */
export function hasTool(name: string): boolean {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
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
