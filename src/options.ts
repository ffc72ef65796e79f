/**
 * The one way options are parsed: a zod schema is the single source of truth, and a failure
 * becomes an {@link InvalidOptionsError} that names every bad field.
 *
 * @module
 */
import type { z } from 'zod';
import { InvalidOptionsError } from './errors.js';

/**
 * Parses `input` with `schema` and returns the resolved options (defaults filled in).
 * @param what - what the options are for, as the message shows it (e.g. `writeBundle options`)
 * @throws {@link InvalidOptionsError} listing every issue as `path: message`
 */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  throw new InvalidOptionsError(`invalid ${what}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, { issues });
}
