const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * Formats a zod issue path (or any key path) as `config.mounts[0].containerPath` /
 * `config.labels["app/name"]`.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && IDENT.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out;
}
