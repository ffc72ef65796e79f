/**
 * The public API is a reviewed decision: every entry point's exported names (values and types) are
 * pinned here, and `src/` has no import cycles (type-only imports aside).
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, string | { types: string; default: string }> };

/** The source file behind a package.json export (`./dist/x.js` → `src/x.ts`). */
function sourceOf(target: string): string {
  return join(root, target.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts'));
}

/** Names an entry file exports, split into values and types. */
function exportedNames(file: string): { values: string[]; types: string[] } {
  const text = readFileSync(file, 'utf8');
  const values: string[] = [];
  const types: string[] = [];
  for (const m of text.matchAll(/export (type )?\{([^}]*)\} from/g)) {
    for (const raw of (m[2] as string).split(',').map((s) => s.trim()).filter(Boolean)) {
      const isType = Boolean(m[1]) || raw.startsWith('type ');
      const name = (raw.replace(/^type /, '').split(' as ').pop() as string).trim();
      (isType ? types : values).push(name);
    }
  }
  for (const m of text.matchAll(/^export (?:async )?(?:function|class|const) ([A-Za-z0-9_]+)/gm)) values.push(m[1] as string);
  for (const m of text.matchAll(/^export (?:type|interface) ([A-Za-z0-9_]+)/gm)) types.push(m[1] as string);
  return { values: values.sort(), types: types.sort() };
}

describe('entry points', () => {
  const entries = Object.entries(pkg.exports).filter(([key]) => key !== './package.json');

  it('package.json names the root and one subpath per part', () => {
    expect(entries.map(([key]) => key)).toEqual(['.', './cri', './runtime-selector', './oci', './runtimes', './proxmox', './errors', './testing']);
  });

  it.each(entries)('%s exports exactly the pinned names, and its values load', async (_key, target) => {
    const file = sourceOf(typeof target === 'string' ? target : target.default);
    const names = exportedNames(file);
    const loaded = Object.keys(await import(file)).sort();
    expect(loaded).toEqual(names.values);
    expect(names).toMatchSnapshot();
  });

  it('the root stays small: the facade and what its callers need', () => {
    const { values, types } = exportedNames(join(root, 'src/index.ts'));
    expect(values.length + types.length).toBeLessThanOrEqual(60);
    expect(values).toEqual(expect.arrayContaining(['createContainer', 'Lxcri', 'validateCreateContainerRequest', 'selectRuntime', 'openImageLayout', 'LayerCache', 'writeBundle', 'OciRuntimeDriver', 'ProxmoxClient', 'LxcriError', 'isLxcriError', 'hasErrorCode']));
  });
});

describe('src/ has no import cycles', () => {
  it('finds none (imports of values; `import type` is erased and cannot cycle at run time)', () => {
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (path.endsWith('.ts')) files.push(path);
      }
    };
    walk(join(root, 'src'));
    const graph = new Map<string, string[]>();
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const deps: string[] = [];
      for (const m of text.matchAll(/^(?:import|export)(?! type)\s[^;]*?from '(\.[^']+)';/gms)) {
        const spec = (m[1] as string).replace(/\.js$/, '.ts');
        deps.push(resolve(dirname(file), spec));
      }
      for (const m of text.matchAll(/import\('(\.[^']+)'\)/g)) deps.push(resolve(dirname(file), (m[1] as string).replace(/\.js$/, '.ts')));
      graph.set(file, deps.filter((d) => graph.has(d) || files.includes(d)));
    }
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (node: string): void => {
      state.set(node, 'visiting');
      stack.push(node);
      for (const next of graph.get(node) ?? []) {
        if (state.get(next) === 'visiting') cycles.push([...stack.slice(stack.indexOf(next)), next].map((f) => relative(root, f)).join(' → '));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(node, 'done');
    };
    for (const file of files) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });
});
